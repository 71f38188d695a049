/**
 * Two tvm instances (two functions-framework processes) against one Redis and the
 * emulator: the rate limits are global, an assertion is accepted once across the
 * fleet, a token minted by one instance is served by the other without a second mint,
 * and a stampede across both makes one mint. See docs/shared-store.md.
 */
import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomBytes, randomUUID} from 'node:crypto';
import {exportJWK, generateKeyPair, SignJWT, type CryptoKey} from 'jose';
import {
  eventually,
  policy,
  pool,
  startFleet,
  waitConnected,
  type Fleet,
} from '../support/fleet.ts';
import {haveRedis, startRedis, type TestRedis} from '../support/redis.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
} from '../support/stack.ts';

const ISSUER = 'http://localhost:8080';
const PER_IP = 300;
const PER_CLIENT = 100;
const keys = {app: newKey()};
const cacheKey = randomBytes(32).toString('base64');
let partnerKey: CryptoKey;
let fleet: Fleet;
let redis: TestRedis;
const seen: string[] = [];

const skip = haveRedis() ? false : 'redis-server is not installed';

before(async () => {
  if (skip) return;
  const k = await generateKeyPair('ES256', {extractable: true});
  partnerKey = k.privateKey;
  const pub = {...(await exportJWK(k.publicKey)), kid: 'p1'};
  redis = await startRedis();
  fleet = await startFleet({
    policy: policy(JSON.stringify(pub)),
    keys,
    env: {
      TVM_ISSUER: ISSUER,
      TVM_REDIS_URL: redis.url,
      TVM_CACHE_KEY: cacheKey,
      TVM_RATE_LIMIT_PER_IP: String(PER_IP),
      TVM_RATE_LIMIT_PER_CLIENT: String(PER_CLIENT),
    },
  });
  await waitConnected(fleet);
});

after(async () => {
  if (skip) return;
  await fleet.close();
  await redis.close();
  assertNoSecretsLogged([keys.app, redis.password, cacheKey, ...seen]);
});

beforeEach(() => {
  if (skip) return;
  // Each test counts from a clean store (rate-limit windows, published tokens).
  redis.cli('FLUSHALL');
});

const vend = (url: string, audience: string) =>
  postForm(
    `${url}/token`,
    {grant_type: 'client_credentials', audience, scope: 'cloud-platform'},
    {authorization: basic('app', keys.app)},
  );

const assertion = (jti = randomUUID()) =>
  new SignJWT({jti})
    .setProtectedHeader({alg: 'ES256', kid: 'p1'})
    .setIssuer('partner')
    .setSubject('partner')
    .setAudience(ISSUER)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(partnerKey);

void describe('two instances, one Redis', {skip}, () => {
  void test(`the per-IP limit (${PER_IP}/min) holds across both instances`, async () => {
    const [a, b] = fleet.instances;
    // Unauthenticated requests: only the per-IP limiter counts them.
    const statuses = await pool(PER_IP * 1.5, 24, i =>
      postForm(
        `${(i % 2 ? a! : b!).url}/token`,
        {grant_type: 'client_credentials', audience: 'one'},
        {authorization: basic('app', 'tvm_wrong')},
      ).then(r => r.status),
    );
    const passed = statuses.filter(s => s !== 429).length;
    const tolerance = Math.max(1, Math.ceil(PER_IP * 0.02));
    console.log(
      `per-IP limit ${PER_IP}: ${passed} of ${statuses.length} passed across two instances`,
    );
    assert.ok(
      Math.abs(passed - PER_IP) <= tolerance,
      `${passed} passed; limit ${PER_IP} ± ${tolerance}`,
    );
    assert.deepEqual(
      [...new Set(statuses)].sort(),
      [401, 429],
      'refused as unauthenticated or limited',
    );
  });

  void test(`the per-client limit (${PER_CLIENT}/min) holds across both instances`, async () => {
    const [a, b] = fleet.instances;
    const results = await pool(PER_CLIENT * 1.5, 16, i =>
      vend((i % 2 ? a! : b!).url, 'one'),
    );
    for (const r of results) {
      if (typeof r.body.access_token === 'string')
        seen.push(r.body.access_token);
    }
    const granted = results.filter(r => r.status === 200).length;
    const limited = results.filter(r => r.status === 429);
    console.log(
      `per-client limit ${PER_CLIENT}: ${granted} of ${results.length} granted across two instances`,
    );
    const tolerance = Math.max(1, Math.ceil(PER_CLIENT * 0.02));
    assert.ok(
      Math.abs(granted - PER_CLIENT) <= tolerance,
      `${granted} granted; limit ${PER_CLIENT} ± ${tolerance}`,
    );
    assert.equal(granted + limited.length, results.length);
    assert.equal(limited[0]?.body.error, 'slow_down');
    assert.ok(limited[0]?.headers.get('retry-after'));
  });

  void test('an assertion accepted by A is refused by B (and by A)', async () => {
    const [a, b] = fleet.instances;
    const jwt = await assertion();
    const form = {
      grant_type: 'client_credentials',
      client_assertion_type:
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
      audience: 'one',
      scope: 'cloud-platform',
    };
    const first = await postForm(`${a!.url}/token`, form);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    seen.push(String(first.body.access_token));
    const again = await postForm(`${b!.url}/token`, form);
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
    assert.match(String(again.body.error_description), /already used/);
    assert.equal((await postForm(`${a!.url}/token`, form)).status, 401);
  });

  void test('a token minted by A is served by B with no second mint', async () => {
    const [a, b] = fleet.instances;
    fleet.emulator.stats.reset();
    const first = await vend(a!.url, 'two');
    assert.equal(first.status, 200);
    const second = await vend(b!.url, 'two');
    assert.equal(second.status, 200);
    seen.push(String(first.body.access_token));
    assert.equal(second.body.access_token, first.body.access_token);
    const mints = fleet.emulator.stats.count('iam.generateAccessToken');
    console.log(`A then B for one account: ${mints} mint(s) upstream`);
    assert.equal(mints, 1);
    const audit = await eventually(() =>
      b!.logs
        .map(l => l.audit as Record<string, unknown> | undefined)
        .findLast(
          l => l?.serviceAccount === 'two@tvm-local.iam.gserviceaccount.com',
        ),
    );
    assert.ok(audit, 'B audited it');
    assert.equal(audit.cached, true, 'B says it came from the cache');
    // What Redis holds is not the token.
    const dump = redis.cli('--scan', '--pattern', 'tvm-tok:*');
    const value = redis.cli('GET', dump.trim().split('\n')[0]!);
    assert.ok(value.startsWith('v1.'), 'sealed');
    assert.ok(!value.includes(String(first.body.access_token)));
    assert.ok(!value.includes('ya29'));
  });

  void test('a cold stampede across both instances makes one mint', async () => {
    const [a, b] = fleet.instances;
    fleet.emulator.stats.reset();
    // A slow upstream, so the stampede really overlaps the mint.
    fleet.emulator.faults.set(
      'iam.generateAccessToken',
      {kind: 'delay', ms: 300},
      {times: 1},
    );
    const results = await pool(40, 40, i =>
      vend((i % 2 ? a! : b!).url, 'three'),
    );
    const tokens = new Set(results.map(r => String(r.body.access_token)));
    for (const t of tokens) seen.push(t);
    assert.deepEqual(
      results.map(r => r.status),
      results.map(() => 200),
    );
    const mints = fleet.emulator.stats.count('iam.generateAccessToken');
    console.log(
      `stampede of 40 across two instances: ${mints} mint(s) upstream`,
    );
    assert.equal(mints, 1);
    assert.equal(tokens.size, 1);
  });

  void test('neither instance crashed or left an unhandled rejection', () => {
    for (const inst of fleet.instances) {
      assert.equal(inst.exited(), false, `${inst.name} is running`);
      assert.deepEqual(
        inst.other.filter(l => /unhandled|Error|ioredis/i.test(l)),
        [],
      );
    }
  });
});
