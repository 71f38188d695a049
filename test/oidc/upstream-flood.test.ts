/**
 * Upstream failures are not amplified (issue 10, item 3; src/oidc/keys.ts states the
 * bound): a broken issuer's discovery document or JWKS is fetched once per backoff
 * however many requests need it, concurrent requests share one fetch, the backoff
 * doubles while the failure lasts and stops at 4 cooldowns, and a recovered issuer is
 * used again once its backoff has passed. Fetches are counted on loopback fake issuers.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {postForm, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  startIssuer,
  startOidcStack,
  testClock,
  type TestIssuer,
} from '../support/oidc.ts';

const AUD = 'https://tvm.example.test';
const COOLDOWN_MS = 10_000;
const clock = testClock();
const issuers: Record<string, TestIssuer> = {};
let s: Stack;

before(async () => {
  for (const n of ['disc', 'direct', 'slow']) {
    issuers[n] = await startIssuer(`https://${n}.test`);
  }
  const dns = fakeDns(
    Object.fromEntries(Object.values(issuers).map(i => [i.origin, i.loopback])),
  );
  const client = (n: string, extra = '') => `
  ${n}:
    oidc:
      issuer: https://${n}.test
      audiences: ["${AUD}"]
      claims: {sub: {equals: job}}${extra}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]`;
  s = await startOidcStack({
    clock,
    fetch: dns,
    oidc: {
      cacheMaxAgeMs: 60_000,
      cooldownMs: COOLDOWN_MS,
      bounds: {timeoutMs: 400, maxBytes: 64 * 1024},
    },
    policy: `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:${client('disc')}${client('direct', '\n      jwks_uri: https://direct.test/jwks')}${client('slow')}
`,
  });
});

after(async () => {
  await s.close();
  for (const i of Object.values(issuers)) await i.close();
});

async function exchange(issuer: TestIssuer): Promise<number> {
  const t = Math.floor(clock.now() / 1000);
  const token = await issuer.sign({sub: 'job', aud: AUD, iat: t, exp: t + 300});
  const r = await postForm(`${s.url}/token`, {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    audience: 'reporting',
    scope: 'bigquery.readonly',
  });
  return r.status;
}

/** `n` requests, `concurrency` at a time; their statuses. */
async function flood(
  issuer: TestIssuer,
  n: number,
  concurrency = 25,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = Array.from({length: Math.min(concurrency, n - i)}, () =>
      exchange(issuer),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

const fetches = (i: TestIssuer) => i.hits.discovery + i.hits.jwks;
const advance = (ms: number) => clock.set(clock.now() + ms);

void describe('a broken issuer under a flood', () => {
  void test('a failing discovery document: one fetch per backoff, doubling up to 4 cooldowns', async () => {
    const disc = issuers.disc!;
    disc.mode = 'down';
    const statuses = await flood(disc, 200);
    assert.ok(
      statuses.every(x => x === 503),
      String(new Set(statuses)),
    );
    assert.deepEqual(
      disc.hits,
      {discovery: 1, jwks: 0},
      '200 requests, 1 fetch',
    );

    // Backoffs 1, 2, 4, 4 cooldowns: a fetch exactly when each has passed, none between.
    for (const wait of [1, 2, 4, 4]) {
      const before = disc.hits.discovery;
      advance(wait * COOLDOWN_MS - 1);
      await flood(disc, 50);
      assert.equal(
        disc.hits.discovery,
        before,
        `nothing before ${wait} cooldowns`,
      );
      advance(1);
      await flood(disc, 50);
      assert.equal(
        disc.hits.discovery,
        before + 1,
        `one fetch after ${wait} cooldowns`,
      );
    }
  });

  void test('a recovered issuer is used again once its backoff has passed', async () => {
    const disc = issuers.disc!;
    disc.mode = 'ok';
    assert.equal(await exchange(disc), 503, 'still inside the backoff');
    advance(4 * COOLDOWN_MS);
    assert.equal(await exchange(disc), 200);
    assert.equal(disc.hits.jwks, 1);
  });

  void test('a failing jwks_uri named in the policy: one fetch per backoff', async () => {
    const direct = issuers.direct!;
    direct.mode = 'down';
    const statuses = await flood(direct, 200);
    assert.ok(statuses.every(x => x === 503));
    assert.deepEqual(direct.hits, {discovery: 0, jwks: 1});
    advance(COOLDOWN_MS);
    await flood(direct, 100);
    assert.deepEqual(direct.hits, {discovery: 0, jwks: 2});
  });

  void test('concurrent requests share one fetch of a hanging issuer', async () => {
    const slow = issuers.slow!;
    slow.mode = 'hang';
    const statuses = await flood(slow, 100, 100);
    assert.ok(statuses.every(x => x === 503));
    assert.equal(fetches(slow), 1, '100 concurrent requests, 1 fetch');
  });
});
