/**
 * The JWT-bearer grant, driven through google-auth-library's JWT client with a
 * redirected transporter.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {generateKeyPairSync} from 'node:crypto';
import {after, before, describe, test} from 'node:test';
import {SignJWT, createRemoteJWKSet, importPKCS8, jwtVerify} from 'jose';
import {
  startEmulator,
  type Emulator,
  type ServiceAccountKeyFile,
} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  errorBody,
  errorStatus,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

void describe('OAuth 2.0 token endpoint (JWT-bearer grant)', () => {
  let emulator: Emulator;
  let offsetMs = 0;
  let key: ServiceAccountKeyFile;
  const minter = sa('minter');

  before(async () => {
    emulator = await startEmulator({now: () => Date.now() + offsetMs});
    emulator.state.createServiceAccount({email: minter});
    key = emulator.state.createKey(minter);
  });
  after(() => emulator.close());

  void test('the key file has Google’s exact format with the emulator token URI', () => {
    assert.deepEqual(Object.keys(key).sort(), [
      'auth_provider_x509_cert_url',
      'auth_uri',
      'client_email',
      'client_id',
      'client_x509_cert_url',
      'private_key',
      'private_key_id',
      'project_id',
      'token_uri',
      'type',
      'universe_domain',
    ]);
    assert.equal(key.type, 'service_account');
    assert.equal(key.token_uri, emulator.tokenUrl);
    assert.equal(key.project_id, 'tvm-local');
    assert.match(key.private_key_id, /^[0-9a-f]{40}$/);
    assert.match(key.private_key, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  void test('a valid assertion yields a ya29 access token remembered with its scopes', async () => {
    const client = jwtClient(emulator, key, {scopes: [CLOUD_PLATFORM]});
    const {token} = await client.getAccessToken();
    assert.match(token ?? '', /^ya29\./);
    const info = emulator.state.tokenInfo(token ?? '');
    assert.equal(info?.email, minter);
    assert.deepEqual(info?.scopes, [CLOUD_PLATFORM]);
    assert.ok(info !== undefined && info.expiresAt > Date.now() + 3500_000);
    assert.ok((client.credentials.expiry_date ?? 0) > Date.now() + 3500_000);
  });

  const refusals: Array<{
    name: string;
    setup: () => {
      key: Pick<
        ServiceAccountKeyFile,
        'client_email' | 'private_key' | 'private_key_id'
      >;
      scopes?: string[];
      subject?: string;
    };
    status: number;
    body: {error: string; error_description: string};
  }> = [
    {
      name: 'a signature made with a different key pair',
      setup: () => {
        const other = generateKeyPairSync('rsa', {modulusLength: 2048});
        const pem = other.privateKey
          .export({type: 'pkcs8', format: 'pem'})
          .toString();
        return {key: {...key, private_key: pem}, scopes: [CLOUD_PLATFORM]};
      },
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: 'Invalid JWT Signature.',
      },
    },
    {
      name: 'a deleted key',
      setup: () => {
        const doomed = emulator.state.createKey(minter);
        emulator.state.deleteKey(minter, doomed.private_key_id);
        return {key: doomed, scopes: [CLOUD_PLATFORM]};
      },
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: 'Invalid JWT Signature.',
      },
    },
    {
      name: 'an assertion without scope',
      setup: () => ({key}),
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description: 'Empty or missing scope not allowed.',
      },
    },
    {
      name: 'an unknown account',
      setup: () => ({
        key: {...key, client_email: sa('nobody')},
        scopes: [CLOUD_PLATFORM],
      }),
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: 'Invalid grant: account not found',
      },
    },
    {
      name: 'a delegation subject for an account without domain-wide delegation',
      setup: () => ({
        key,
        scopes: [CLOUD_PLATFORM],
        subject: 'user@example.com',
      }),
      status: 401,
      body: {
        error: 'unauthorized_client',
        error_description:
          'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      },
    },
  ];
  for (const c of refusals) {
    void test(`refuses ${c.name}`, async () => {
      const {key: k, ...opts} = c.setup();
      const err = await rejection(
        jwtClient(emulator, k, opts).getAccessToken(),
      );
      assert.equal(errorStatus(err), c.status);
      assert.deepEqual(errorBody(err), c.body);
    });
  }

  void test("refuses an assertion whose aud is the emulator's own URL: Google accepts only its own", async () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({scope: CLOUD_PLATFORM})
      .setProtectedHeader({alg: 'RS256', kid: key.private_key_id})
      .setIssuer(key.client_email)
      .setAudience(emulator.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(await importPKCS8(key.private_key, 'RS256'));
    const res = await fetch(emulator.tokenUrl, {
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }).toString(),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: 'invalid_grant',
      error_description: 'Invalid JWT: Failed audience check.',
    });
  });

  void test('an IAM Credentials path with a malformed escape is a 4xx, never a 500', async () => {
    const res = await fetch(
      `${emulator.url}/v1/projects/-/serviceAccounts/%E0:generateAccessToken`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer x',
        },
        body: '{}',
      },
    );
    assert.ok(res.status === 404 || res.status === 401, `status ${res.status}`);
  });

  void test('refuses an expired assertion (the emulator clock is two hours ahead)', async () => {
    offsetMs = 2 * 3600_000;
    try {
      const err = await rejection(
        jwtClient(emulator, key, {scopes: [CLOUD_PLATFORM]}).getAccessToken(),
      );
      assert.equal(errorStatus(err), 400);
      assert.deepEqual(errorBody(err), {
        error: 'invalid_grant',
        error_description:
          'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      });
    } finally {
      offsetMs = 0;
    }
  });

  void test('refuses an assertion issued in the future (the emulator clock is behind)', async () => {
    offsetMs = -10 * 60_000;
    try {
      const err = await rejection(
        jwtClient(emulator, key, {scopes: [CLOUD_PLATFORM]}).getAccessToken(),
      );
      assert.equal(errorStatus(err), 400);
      assert.equal((errorBody(err) as {error: string}).error, 'invalid_grant');
    } finally {
      offsetMs = 0;
    }
  });

  void test('refuses a disabled account', async () => {
    const email = sa('disabled-minter');
    emulator.state.createServiceAccount({email});
    const k = emulator.state.createKey(email);
    emulator.state.disableServiceAccount(email);
    const err = await rejection(
      jwtClient(emulator, k, {scopes: [CLOUD_PLATFORM]}).getAccessToken(),
    );
    assert.equal(errorStatus(err), 400);
    assert.equal((errorBody(err) as {error: string}).error, 'invalid_grant');
  });

  void test('allows a delegation subject where domain-wide delegation is on', async () => {
    const email = sa('dwd');
    emulator.state.createServiceAccount({email});
    emulator.state.authorizeDelegation(email, [CLOUD_PLATFORM]);
    emulator.state.createUser('user@example.com');
    const k = emulator.state.createKey(email);
    const client = jwtClient(emulator, k, {
      scopes: [CLOUD_PLATFORM],
      subject: 'user@example.com',
    });
    const {token} = await client.getAccessToken();
    const info = emulator.state.tokenInfo(token ?? '');
    assert.equal(info?.email, 'user@example.com');
    assert.equal(info?.delegatedBy, email);
  });

  void test('target_audience yields an ID token verifiable against the JWKS', async () => {
    const idToken = await jwtClient(emulator, key).fetchIdToken(
      'https://tvm.example.com',
    );
    const jwks = createRemoteJWKSet(new URL(`${emulator.url}/oauth2/v3/certs`));
    const {payload, protectedHeader} = await jwtVerify(idToken, jwks, {
      issuer: 'https://accounts.google.com',
      audience: 'https://tvm.example.com',
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.email, minter);
    assert.equal(payload.email_verified, true);
    assert.equal(payload.sub, key.client_id);
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);
  });
});
