/**
 * ID tokens from the emulator, checked as their receivers check them: google-auth-
 * library's `OAuth2Client#verifyIdToken` against the certificates the emulator
 * publishes at /oauth2/v1/certs (X.509 in PEM, what the library fetches under Node),
 * tokeninfo with `id_token`, and IAM Credentials' generateIdToken refusals in Google's
 * shapes.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {X509Certificate} from 'node:crypto';
import {after, before, describe, test} from 'node:test';
import {Impersonated, OAuth2Client, type AuthClient} from 'google-auth-library';
import {decodeProtectedHeader} from 'jose';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  errorBody,
  errorStatus,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

const caller = sa('id-caller');
const target = sa('id-target');
const stranger = sa('id-stranger');
const AUD = 'https://reports-abc123-ew.a.run.app';

void describe('ID tokens and the certificates that verify them', () => {
  let emulator: Emulator;
  let source: AuthClient;
  let verifier: OAuth2Client;
  let targetUniqueId: string;

  before(async () => {
    emulator = await startEmulator();
    const s = emulator.state;
    s.createServiceAccount({email: caller});
    targetUniqueId = s.createServiceAccount({email: target}).uniqueId;
    s.createServiceAccount({email: stranger});
    s.grantTokenCreator(`serviceAccount:${caller}`, target);
    source = jwtClient(emulator, s.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
    verifier = new OAuth2Client({
      endpoints: {
        oauth2FederatedSignonPemCertsUrl: `${emulator.url}/oauth2/v1/certs`,
      },
    });
  });
  after(() => emulator.close());

  const impersonate = (targetPrincipal: string) =>
    new Impersonated({
      sourceClient: source,
      targetPrincipal,
      targetScopes: [CLOUD_PLATFORM],
      delegates: [],
      endpoint: emulator.url,
    });

  void test('/oauth2/v1/certs: a self-signed X.509 certificate of the signing key, by key id, cacheable', async () => {
    const res = await fetch(`${emulator.url}/oauth2/v1/certs`);
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get('cache-control') ?? '',
      /^public, max-age=\d+/,
    );
    const body = (await res.json()) as Record<string, string>;
    const kids = Object.keys(body);
    assert.equal(kids.length, 1);
    const cert = new X509Certificate(body[kids[0]!]!);
    assert.equal(cert.subject, 'CN=accounts.google.com');
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.ok(Date.parse(cert.validTo) > Date.now());
    assert.ok(Date.parse(cert.validFrom) < Date.now());
    // The same key as the JWKS at /oauth2/v3/certs.
    const jwks = (await (
      await fetch(`${emulator.url}/oauth2/v3/certs`)
    ).json()) as {keys: Array<{kid: string; n: string}>};
    assert.equal(jwks.keys[0]!.kid, kids[0]);
    const n = cert.publicKey.export({format: 'jwk'}).n;
    assert.equal(n, jwks.keys[0]!.n);
    // Stable across requests, as a client's cache expects.
    const again = (await (
      await fetch(`${emulator.url}/oauth2/v1/certs`)
    ).json()) as Record<string, string>;
    assert.deepEqual(again, body);
  });

  void test('generateIdToken: verifyIdToken accepts it for its audience, with the email when asked', async () => {
    const withEmail = await impersonate(target).fetchIdToken(AUD, {
      includeEmail: true,
    });
    const ticket = await verifier.verifyIdToken({
      idToken: withEmail,
      audience: AUD,
    });
    const p = ticket.getPayload()!;
    assert.equal(p.iss, 'https://accounts.google.com');
    assert.equal(p.aud, AUD);
    assert.equal(p.sub, targetUniqueId);
    assert.equal(p.email, target);
    assert.equal(p.email_verified, true);
    assert.equal(p.exp - p.iat, 3600);
    assert.equal(
      decodeProtectedHeader(withEmail).kid,
      Object.keys(
        (await (await fetch(`${emulator.url}/oauth2/v1/certs`)).json()) as {},
      )[0],
    );

    const without = await impersonate(target).fetchIdToken(AUD, {
      includeEmail: false,
    });
    const bare = (
      await verifier.verifyIdToken({idToken: without, audience: AUD})
    ).getPayload()!;
    assert.equal(bare.email, undefined);
    assert.equal(bare.email_verified, undefined);
    assert.equal(bare.azp, targetUniqueId);
  });

  void test('verifyIdToken refuses another audience and a token not signed by the key', async () => {
    const idToken = await impersonate(target).fetchIdToken(AUD);
    await assert.rejects(
      verifier.verifyIdToken({idToken, audience: 'https://other.example'}),
      /Wrong recipient/,
    );
    const [h, p] = idToken.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(256, 1).toString('base64url')}`;
    await assert.rejects(
      verifier.verifyIdToken({idToken: forged, audience: AUD}),
      /Invalid token signature/,
    );
  });

  void test('JWT-bearer with target_audience: an ID token that always names the account', async () => {
    const key = emulator.state.createKey(target);
    const idToken = await jwtClient(emulator, key).fetchIdToken(AUD);
    const p = (
      await verifier.verifyIdToken({idToken, audience: AUD})
    ).getPayload()!;
    assert.equal(p.email, target);
    assert.equal(p.azp, target);
    assert.equal(p.sub, targetUniqueId);
  });

  void test('tokeninfo with id_token reports the verified claims; a forged one is invalid', async () => {
    const idToken = await impersonate(target).fetchIdToken(AUD, {
      includeEmail: true,
    });
    const res = await fetch(
      `${emulator.url}/tokeninfo?id_token=${encodeURIComponent(idToken)}`,
    );
    assert.equal(res.status, 200);
    const info = (await res.json()) as Record<string, string>;
    assert.equal(info.aud, AUD);
    assert.equal(info.email, target);
    assert.equal(info.email_verified, 'true');
    assert.equal(info.iss, 'https://accounts.google.com');
    assert.equal(info.alg, 'RS256');
    const forged = `${idToken.slice(0, idToken.lastIndexOf('.'))}.AAAA`;
    const bad = await fetch(
      `${emulator.url}/tokeninfo?id_token=${encodeURIComponent(forged)}`,
    );
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      error: 'invalid_token',
      error_description: 'Invalid Value',
    });
  });

  void describe('generateIdToken refusals, in Google shapes', () => {
    const call = (email: string, body: unknown) =>
      rejection(
        source.request({
          url: `${emulator.url}/v1/projects/-/serviceAccounts/${encodeURIComponent(email)}:generateIdToken`,
          method: 'POST',
          data: body,
        }),
      );

    void test('without iam.serviceAccounts.getOpenIdToken on the target: 403 IAM_PERMISSION_DENIED', async () => {
      const before = emulator.stats.count('iam.generateIdToken');
      const err = await call(stranger, {audience: AUD});
      assert.equal(errorStatus(err), 403);
      assert.deepEqual(errorBody(err), {
        error: {
          code: 403,
          message:
            "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).",
          status: 'PERMISSION_DENIED',
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: 'IAM_PERMISSION_DENIED',
              domain: 'iam.googleapis.com',
              metadata: {permission: 'iam.serviceAccounts.getOpenIdToken'},
            },
          ],
        },
      });
      assert.equal(emulator.stats.count('iam.generateIdToken'), before + 1);
    });

    void test('an account that does not exist: 404 NOT_FOUND', async () => {
      const err = await call(sa('nobody'), {audience: AUD});
      assert.equal(errorStatus(err), 404);
      assert.deepEqual(errorBody(err), {
        error: {
          code: 404,
          message: 'Requested entity was not found.',
          status: 'NOT_FOUND',
        },
      });
    });

    for (const [name, body] of [
      ['no audience', {includeEmail: true}],
      ['an empty audience', {audience: ''}],
    ] as const) {
      void test(`${name}: 400 INVALID_ARGUMENT with a field violation`, async () => {
        const err = await call(target, body);
        assert.equal(errorStatus(err), 400);
        assert.deepEqual(errorBody(err), {
          error: {
            code: 400,
            message: 'Audience required.',
            status: 'INVALID_ARGUMENT',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.BadRequest',
                fieldViolations: [
                  {field: 'audience', description: 'Audience required.'},
                ],
              },
            ],
          },
        });
      });
    }

    void test('a caller without a credential: 401 UNAUTHENTICATED', async () => {
      const res = await fetch(
        `${emulator.url}/v1/projects/-/serviceAccounts/${target}:generateIdToken`,
        {method: 'POST', body: JSON.stringify({audience: AUD})},
      );
      assert.equal(res.status, 401);
      const body = (await res.json()) as {
        error: {status: string; details: Array<{reason: string}>};
      };
      assert.equal(body.error.status, 'UNAUTHENTICATED');
      assert.equal(body.error.details[0]!.reason, 'CREDENTIALS_MISSING');
    });
  });
});
