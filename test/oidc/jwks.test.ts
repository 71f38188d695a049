/**
 * Keys from the issuer (docs/security.md, "Upstream faults": an issuer's keys down,
 * slow, redirecting or huge; key rotation): discovery and JWKS fetched with
 * bounds (timeout, size cap, no redirects), a new kid working after one refetch, a
 * removed kid refused once the cache has turned over, and failing closed (503, never
 * a token) when the issuer is down, slow, redirecting or huge after the cached keys
 * expired. Cache age and cooldown are shortened for this file only.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {setTimeout as sleep} from 'node:timers/promises';
import {assertNoSecretsLogged, postForm, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  lastAudit,
  startIssuer,
  startOidcStack,
  testClock,
  type TestIssuer,
} from '../support/oidc.ts';

const AUD = 'https://tvm.example.test';
const CACHE_MS = 200;
const clock = testClock();
const names = ['rot', 'down', 'redirect', 'huge', 'hang', 'liar', 'direct'];
const issuers: Record<string, TestIssuer> = {};
const handedOut: string[] = [];
let s: Stack;
let dns: ReturnType<typeof fakeDns>;

before(async () => {
  for (const n of names) issuers[n] = await startIssuer(`https://${n}.test`);
  dns = fakeDns(
    Object.fromEntries(
      names.map(n => [issuers[n]!.origin, issuers[n]!.loopback]),
    ),
  );
  const clients = names
    .map(
      n => `
  ${n}:
    oidc:
      issuer: https://${n}.test
      audiences: ["${AUD}"]
      claims: {sub: {equals: job}}${n === 'direct' ? '\n      jwks_uri: https://direct.test/jwks' : ''}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]`,
    )
    .join('');
  s = await startOidcStack({
    clock,
    fetch: dns,
    oidc: {
      cacheMaxAgeMs: CACHE_MS,
      cooldownMs: 0,
      bounds: {timeoutMs: 300, maxBytes: 64 * 1024},
    },
    policy: `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:${clients}
`,
  });
});

after(async () => {
  await s.close();
  for (const i of Object.values(issuers)) await i.close();
  assertNoSecretsLogged(handedOut);
});

async function exchange(issuer: TestIssuer, kid?: string) {
  const t = Math.floor(clock.now() / 1000);
  const key = kid ? issuer.keys.find(k => k.kid === kid) : undefined;
  const token = await issuer.sign(
    {sub: 'job', aud: AUD, iat: t, exp: t + 300},
    {key, header: kid && !key ? {kid} : {}},
  );
  const r = await postForm(`${s.url}/token`, {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    audience: 'reporting',
    scope: 'bigquery.readonly',
  });
  if (r.status === 200) handedOut.push(r.body.access_token as string);
  return r;
}

function assertUnavailable(r: Awaited<ReturnType<typeof exchange>>) {
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.error, 'temporarily_unavailable');
  assert.match(r.body.error_description as string, /keys could not be fetched/);
  assert.equal(r.headers.get('retry-after'), '5');
  assert.equal(r.body.access_token, undefined);
  assert.equal(lastAudit(s).reason, 'ERR_UPSTREAM_UNAVAILABLE');
}

void describe('issuer keys', () => {
  void test('discovery, then the JWKS it names; a jwks_uri in the policy skips discovery', async () => {
    const rot = issuers.rot!;
    assert.equal((await exchange(rot)).status, 200);
    assert.deepEqual(rot.hits, {discovery: 1, jwks: 1});
    const direct = issuers.direct!;
    assert.equal((await exchange(direct)).status, 200);
    assert.deepEqual(direct.hits, {discovery: 0, jwks: 1});
  });

  void test('rotation: a new kid works after exactly one refetch; a removed kid stops', async () => {
    const rot = issuers.rot!;
    const old = rot.keys[0]!.kid;
    const fresh = await rot.addKey('ES256');
    const before = rot.hits.jwks;
    assert.equal((await exchange(rot, fresh.kid)).status, 200);
    assert.equal(rot.hits.jwks - before, 1);
    rot.removeKey(old);
    await sleep(CACHE_MS + 50); // the cached set turns over (jose's own clock)
    const r = await exchange(rot, old);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    assert.match(r.body.error_description as string, /could not be verified/);
    assert.match(
      lastAudit(s).detail as string,
      /unknown_kid: no key of the issuer/,
    );
    assert.equal((await exchange(rot, fresh.kid)).status, 200);
  });

  void test('fail closed: issuer down once the cached keys expired, then back', async () => {
    const down = issuers.down!;
    assert.equal((await exchange(down)).status, 200);
    down.mode = 'down';
    await sleep(CACHE_MS + 50);
    assertUnavailable(await exchange(down));
    down.mode = 'ok';
    assert.equal((await exchange(down)).status, 200);
  });

  void test('a redirect is never followed', async () => {
    issuers.redirect!.mode = 'redirect';
    assertUnavailable(await exchange(issuers.redirect!));
    assert.ok(!dns.asked.some(u => u.includes('evil.test')));
  });

  void test('a JWKS over the size cap is refused', async () => {
    const huge = issuers.huge!;
    assert.equal((await exchange(huge)).status, 200);
    huge.mode = 'huge';
    await sleep(CACHE_MS + 50);
    assertUnavailable(await exchange(huge));
    assert.match(lastAudit(s).detail as string, /larger than 65536 bytes/);
  });

  void test('a hanging issuer times out: 503 well before the platform would', async () => {
    issuers.hang!.mode = 'hang';
    assertUnavailable(await exchange(issuers.hang!));
    assert.match(lastAudit(s).detail as string, /timed out/);
  });

  void test('a discovery document naming another issuer is refused', async () => {
    issuers.liar!.discoveryIssuer = 'https://rot.test';
    assertUnavailable(await exchange(issuers.liar!));
    assert.match(lastAudit(s).detail as string, /names issuer/);
  });
});
