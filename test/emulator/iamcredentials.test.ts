/**
 * IAM Credentials, driven through google-auth-library's Impersonated client (with its
 * `endpoint` option) on top of a redirected JWT source client.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {Impersonated, OAuth2Client, type AuthClient} from 'google-auth-library';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
} from 'jose';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  errorBody,
  errorStatus,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

const caller = sa('caller');
const target = sa('target');
const longLived = sa('long-lived');
const hop = sa('hop');
const STORAGE = 'https://www.googleapis.com/auth/devstorage.read_only';

const PERMISSION_DENIED = (permission: string) => ({
  error: {
    code: 403,
    message: `Permission '${permission}' denied on resource (or it may not exist).`,
    status: 'PERMISSION_DENIED',
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'IAM_PERMISSION_DENIED',
        domain: 'iam.googleapis.com',
        metadata: {permission},
      },
    ],
  },
});

void describe('IAM Credentials API', () => {
  let emulator: Emulator;
  let offsetMs = 0;
  let source: AuthClient;

  before(async () => {
    emulator = await startEmulator({now: () => Date.now() + offsetMs});
    const s = emulator.state;
    for (const email of [caller, target, hop]) s.createServiceAccount({email});
    s.createServiceAccount({email: longLived, lifetimeExtension: true});
    s.grantTokenCreator(`serviceAccount:${caller}`, target);
    s.grantTokenCreator(`serviceAccount:${caller}`, longLived);
    source = jwtClient(emulator, s.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
  });
  after(() => emulator.close());

  function impersonate(
    targetPrincipal: string,
    options: {
      lifetime?: number;
      delegates?: string[];
      sourceClient?: AuthClient;
    } = {},
  ): Impersonated {
    return new Impersonated({
      sourceClient: options.sourceClient ?? source,
      targetPrincipal,
      targetScopes: [STORAGE],
      delegates: options.delegates ?? [],
      ...(options.lifetime === undefined ? {} : {lifetime: options.lifetime}),
      endpoint: emulator.url,
    });
  }

  void test('generateAccessToken mints a token for the target with the asked scopes and lifetime', async () => {
    const client = impersonate(target, {lifetime: 600});
    const {token} = await client.getAccessToken();
    const info = emulator.state.tokenInfo(token ?? '');
    assert.equal(info?.email, target);
    assert.deepEqual(info?.scopes, [STORAGE]);
    const left = (info?.expiresAt ?? 0) - Date.now();
    assert.ok(left > 590_000 && left <= 600_000, `lifetime ${left}`);
    // expireTime is RFC 3339 without fractional seconds; the library parsed it.
    assert.equal((client.credentials.expiry_date ?? 0) % 1000, 0);
    assert.ok(
      Math.abs((client.credentials.expiry_date ?? 0) - (info?.expiresAt ?? 0)) <
        1000,
    );
  });

  void test('refuses a caller without token-creator on the target (403 PERMISSION_DENIED)', async () => {
    const err = await rejection(impersonate(hop).getAccessToken());
    assert.equal(errorStatus(err), 403);
    assert.deepEqual(
      errorBody(err),
      PERMISSION_DENIED('iam.serviceAccounts.getAccessToken'),
    );
  });

  void test('a revoked binding stops working', async () => {
    emulator.state.grantTokenCreator(`serviceAccount:${caller}`, hop);
    await impersonate(hop).getAccessToken();
    emulator.state.revokeTokenCreator(`serviceAccount:${caller}`, hop);
    assert.equal(
      errorStatus(await rejection(impersonate(hop).getAccessToken())),
      403,
    );
  });

  void test('answers 404 NOT_FOUND for an unknown target', async () => {
    const err = await rejection(impersonate(sa('ghost')).getAccessToken());
    assert.equal(errorStatus(err), 404);
    assert.deepEqual(errorBody(err), {
      error: {
        code: 404,
        message: 'Requested entity was not found.',
        status: 'NOT_FOUND',
      },
    });
  });

  const lifetimes: Array<{
    name: string;
    email: string;
    lifetime: number;
    status: number;
  }> = [
    {
      name: '3600 s on an ordinary account',
      email: target,
      lifetime: 3600,
      status: 200,
    },
    {
      name: '3601 s on an ordinary account',
      email: target,
      lifetime: 3601,
      status: 400,
    },
    {
      name: '43200 s on an ordinary account',
      email: target,
      lifetime: 43200,
      status: 400,
    },
    {
      name: '43200 s on a lifetime-extension account',
      email: longLived,
      lifetime: 43200,
      status: 200,
    },
    {
      name: '43201 s on a lifetime-extension account',
      email: longLived,
      lifetime: 43201,
      status: 400,
    },
  ];
  for (const c of lifetimes) {
    void test(`lifetime ${c.name} → ${c.status}`, async () => {
      const client = impersonate(c.email, {lifetime: c.lifetime});
      if (c.status === 200) {
        const {token} = await client.getAccessToken();
        const left =
          (emulator.state.tokenInfo(token ?? '')?.expiresAt ?? 0) - Date.now();
        assert.ok(left > (c.lifetime - 10) * 1000 && left <= c.lifetime * 1000);
        return;
      }
      const err = await rejection(client.getAccessToken());
      assert.equal(errorStatus(err), 400);
      const body = errorBody(err) as {
        error: {code: number; status: string; message: string};
      };
      assert.equal(body.error.code, 400);
      assert.equal(body.error.status, 'INVALID_ARGUMENT');
      assert.match(body.error.message, /lifetime/);
    });
  }

  void test('refuses a request without scope (400 INVALID_ARGUMENT)', async () => {
    const err = await rejection(
      source.request({
        url: `${emulator.url}/v1/projects/-/serviceAccounts/${target}:generateAccessToken`,
        method: 'POST',
        data: {lifetime: '600s'},
      }),
    );
    assert.equal(errorStatus(err), 400);
    assert.equal(
      (errorBody(err) as {error: {status: string}}).error.status,
      'INVALID_ARGUMENT',
    );
  });

  void test('delegates: every hop needs token-creator on the next', async () => {
    const chain = impersonate(target, {
      delegates: [`projects/-/serviceAccounts/${hop}`],
    });
    // caller lacks the binding on hop
    assert.equal(errorStatus(await rejection(chain.getAccessToken())), 403);
    emulator.state.grantTokenCreator(`serviceAccount:${caller}`, hop);
    // hop lacks the binding on target
    const err = await rejection(
      impersonate(target, {
        delegates: [`projects/-/serviceAccounts/${hop}`],
      }).getAccessToken(),
    );
    assert.equal(errorStatus(err), 403);
    emulator.state.grantTokenCreator(`serviceAccount:${hop}`, target);
    const {token} = await impersonate(target, {
      delegates: [`projects/-/serviceAccounts/${hop}`],
    }).getAccessToken();
    assert.equal(emulator.state.tokenInfo(token ?? '')?.email, target);
    emulator.state.revokeTokenCreator(`serviceAccount:${caller}`, hop);
    emulator.state.revokeTokenCreator(`serviceAccount:${hop}`, target);
  });

  void test('refuses a bearer token the emulator never issued (401 UNAUTHENTICATED)', async () => {
    const forged = new OAuth2Client();
    forged.setCredentials({
      access_token: 'ya29.forged',
      expiry_date: Date.now() + 3600_000,
    });
    const err = await rejection(
      impersonate(target, {sourceClient: forged}).getAccessToken(),
    );
    assert.equal(errorStatus(err), 401);
    const body = errorBody(err) as {error: {code: number; status: string}};
    assert.equal(body.error.code, 401);
    assert.equal(body.error.status, 'UNAUTHENTICATED');
  });

  void test('refuses a caller token that has expired by the emulator clock', async () => {
    const fresh = jwtClient(emulator, emulator.state.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
    await fresh.getAccessToken();
    offsetMs = 2 * 3600_000;
    try {
      const err = await rejection(
        impersonate(target, {sourceClient: fresh}).getAccessToken(),
      );
      assert.equal(errorStatus(err), 401);
    } finally {
      offsetMs = 0;
    }
  });

  void test('refuses a caller token without the cloud-platform or iam scope', async () => {
    const narrow = jwtClient(emulator, emulator.state.createKey(caller), {
      scopes: [STORAGE],
    });
    const err = await rejection(
      impersonate(target, {sourceClient: narrow}).getAccessToken(),
    );
    assert.equal(errorStatus(err), 403);
    assert.equal(
      (errorBody(err) as {error: {message: string}}).error.message,
      'Request had insufficient authentication scopes.',
    );
  });

  void test('generateIdToken returns an RS256 ID token verifiable against the JWKS', async () => {
    const idToken = await impersonate(target).fetchIdToken(
      'https://aud.example.com',
      {
        includeEmail: true,
      },
    );
    const jwks = createRemoteJWKSet(new URL(`${emulator.url}/oauth2/v3/certs`));
    const {payload} = await jwtVerify(idToken, jwks, {
      issuer: 'https://accounts.google.com',
      audience: 'https://aud.example.com',
    });
    assert.equal(payload.email, target);
    assert.equal(payload.email_verified, true);
  });

  void test('generateIdToken is refused without the permission', async () => {
    const err = await rejection(
      impersonate(hop).fetchIdToken('https://aud.example.com'),
    );
    assert.equal(errorStatus(err), 403);
    assert.deepEqual(
      errorBody(err),
      PERMISSION_DENIED('iam.serviceAccounts.getOpenIdToken'),
    );
  });

  void test('signJwt signs the payload with a key published in the account JWKS', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const url = `${emulator.url}/v1/projects/-/serviceAccounts/${target}:signJwt`;
    const res = await source.request<{keyId: string; signedJwt: string}>({
      url,
      method: 'POST',
      data: {payload: JSON.stringify({sub: 'x', exp})},
    });
    assert.equal(res.status, 200);
    assert.equal(decodeProtectedHeader(res.data.signedJwt).kid, res.data.keyId);
    assert.equal(decodeJwt(res.data.signedJwt).sub, 'x');
    const jwks = createRemoteJWKSet(
      new URL(
        `${emulator.url}/service_accounts/v1/jwk/${encodeURIComponent(target)}`,
      ),
    );
    await jwtVerify(res.data.signedJwt, jwks);
    const tooLong = {payload: JSON.stringify({exp: exp + 13 * 3600})};
    const err = await rejection(
      source.request({url, method: 'POST', data: tooLong}),
    );
    assert.equal(errorStatus(err), 400);
    assert.equal(
      (errorBody(err) as {error: {status: string}}).error.status,
      'INVALID_ARGUMENT',
    );
  });
});
