/**
 * Keys pinned in the policy (a `jwks`): jose chooses the key for a JWT's alg and kid,
 * and later JWTs with the same alg and kid are verified with that key itself
 * (src/oidc/keys.ts, pinnedKeys). The choice never widens what verifies: another
 * key's signature under the same kid, an alg the trust does not allow, an unknown kid
 * are refused as before; refusals are not remembered; a policy loaded again starts
 * afresh with its own keys.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWTHeaderParameters,
} from 'jose';
import {JwtRejected} from '../../src/errors.ts';
import {inspectJwt} from '../../src/oidc/jws.ts';
import {createKeyResolver, type KeyResolver} from '../../src/oidc/keys.ts';
import {verifyJwt} from '../../src/oidc/verify.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import type {IssuerTrust} from '../../src/policy/types.ts';

const ISSUER = 'https://pinned.test';
const clock = {now: () => Math.floor(Date.now() / 1000) * 1000};
const noFetch = () => Promise.reject(new Error('no fetch for pinned keys'));

async function rsaKey() {
  const k = await generateKeyPair('RS256', {extractable: true});
  return {privateKey: k.privateKey, jwk: await exportJWK(k.publicKey)};
}

/** The trust of a policy pinning `keys` for ISSUER, RS256 only. */
function trustOf(keys: object[]): IssuerTrust {
  const policy = parsePolicy(`
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  pinned:
    oidc:
      issuer: ${ISSUER}
      audiences: [https://tvm.example.test]
      claims: {sub: {equals: job}}
      algorithms: [RS256]
      jwks: ${JSON.stringify({keys})}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`);
  return policy.issuers.get(ISSUER)!;
}

function sign(
  key: CryptoKey,
  header: Partial<JWTHeaderParameters> = {},
): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({sub: 'job', aud: 'https://tvm.example.test'})
    .setProtectedHeader({alg: 'RS256', ...header})
    .setIssuer(ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
}

/** Verifies `token` as the service does: the key from the resolver, then jose. */
async function verify(keys: KeyResolver, trust: IssuerTrust, token: string) {
  const jwt = inspectJwt(token);
  return verifyJwt(jwt, {
    key: await keys.keyFor(trust.keys, jwt, trust.issuer),
    algorithms: trust.algorithms,
    issuer: trust.issuer,
    requiredClaims: ['exp', 'sub'],
    clock,
  });
}

async function refusedAs(p: Promise<unknown>, reason: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof JwtRejected, String(e));
    assert.equal(e.reason, reason);
    return true;
  });
}

void describe('pinned keys: the key jose chose, used again', () => {
  void test('the first JWT of an alg and kid goes through jose, the next get its key', async () => {
    const k = await rsaKey();
    const trust = trustOf([{...k.jwk, kid: 'k1', alg: 'RS256'}]);
    const keys = createKeyResolver({fetch: noFetch, clock});
    const token = await sign(k.privateKey, {kid: 'k1'});
    const before = await keys.keyFor(trust.keys, inspectJwt(token));
    assert.equal(typeof before, 'function', "jose's key selection");
    assert.equal((await verify(keys, trust, token)).sub, 'job');
    const after = await keys.keyFor(trust.keys, inspectJwt(token));
    assert.notEqual(typeof after, 'function', 'the key itself');
    assert.equal((await verify(keys, trust, token)).sub, 'job');
    assert.equal(
      (await verify(keys, trust, await sign(k.privateKey, {kid: 'k1'}))).sub,
      'job',
    );
  });

  void test('another key signing under a chosen kid is refused', async () => {
    const k = await rsaKey();
    const stranger = await rsaKey();
    const trust = trustOf([{...k.jwk, kid: 'k1'}]);
    const keys = createKeyResolver({fetch: noFetch, clock});
    await verify(keys, trust, await sign(k.privateKey, {kid: 'k1'}));
    await refusedAs(
      verify(keys, trust, await sign(stranger.privateKey, {kid: 'k1'})),
      'bad_signature',
    );
    // And the refusal changed nothing: the right key still verifies.
    await verify(keys, trust, await sign(k.privateKey, {kid: 'k1'}));
  });

  void test('an alg the trust does not allow stays refused once a kid is chosen', async () => {
    const k = await rsaKey();
    const trust = trustOf([{...k.jwk, kid: 'k1'}]);
    const keys = createKeyResolver({fetch: noFetch, clock});
    await verify(keys, trust, await sign(k.privateKey, {kid: 'k1'}));
    const [, payload, signature] = (
      await sign(k.privateKey, {kid: 'k1'})
    ).split('.');
    for (const alg of ['PS256', 'HS256', 'ES256']) {
      const header = Buffer.from(JSON.stringify({alg, kid: 'k1'}));
      const token = `${header.toString('base64url')}.${payload}.${signature}`;
      await refusedAs(verify(keys, trust, token), 'alg_not_allowed');
    }
  });

  void test('an unknown kid is refused every time, and nothing is kept for it', async () => {
    const k = await rsaKey();
    const trust = trustOf([{...k.jwk, kid: 'k1'}]);
    const keys = createKeyResolver({fetch: noFetch, clock});
    await verify(keys, trust, await sign(k.privateKey, {kid: 'k1'}));
    for (let i = 0; i < 3; i++) {
      const token = await sign(k.privateKey, {kid: `k${i + 2}`});
      await refusedAs(verify(keys, trust, token), 'unknown_kid');
      const key = await keys.keyFor(trust.keys, inspectJwt(token));
      assert.equal(typeof key, 'function', 'still left to jose');
    }
  });

  void test('a JWT without kid and one naming a kid are chosen apart', async () => {
    const k = await rsaKey();
    const trust = trustOf([{...k.jwk, kid: 'k1'}]);
    const keys = createKeyResolver({fetch: noFetch, clock});
    await verify(keys, trust, await sign(k.privateKey));
    await verify(keys, trust, await sign(k.privateKey));
    await refusedAs(
      verify(keys, trust, await sign(k.privateKey, {kid: 'other'})),
      'unknown_kid',
    );
  });

  void test('a policy loaded again uses its own keys, not the ones chosen before', async () => {
    const old = await rsaKey();
    const renewed = await rsaKey();
    const keys = createKeyResolver({fetch: noFetch, clock});
    const first = trustOf([{...old.jwk, kid: 'k1'}]);
    await verify(keys, first, await sign(old.privateKey, {kid: 'k1'}));
    // The same kid now names another key.
    const second = trustOf([{...renewed.jwk, kid: 'k1'}]);
    await refusedAs(
      verify(keys, second, await sign(old.privateKey, {kid: 'k1'})),
      'bad_signature',
    );
    await verify(keys, second, await sign(renewed.privateKey, {kid: 'k1'}));
  });
});
