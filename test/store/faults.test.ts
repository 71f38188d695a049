/**
 * The shared store failing under load, with two instances: Redis stopped and
 * restarted, Redis answering nothing for a while (SIGSTOP), Redis with the wrong
 * password. API-key requests keep being served (per-instance limits and cache), client
 * assertions are refused with 503 and Retry-After while the replay guard cannot
 * record them, each change is one operator line, everything recovers without a
 * restart, and no instance crashes or leaves an unhandled rejection.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomBytes, randomUUID} from 'node:crypto';
import {exportJWK, generateKeyPair, SignJWT, type CryptoKey} from 'jose';
import {
  operatorLines,
  policy,
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
const keys = {app: newKey()};
const cacheKey = randomBytes(32).toString('base64');
const skip = haveRedis() ? false : 'redis-server is not installed';
let partnerKey: CryptoKey;
let jwks: string;
let redis: TestRedis;
const seen: string[] = [];

before(async () => {
  if (skip) return;
  const k = await generateKeyPair('ES256', {extractable: true});
  partnerKey = k.privateKey;
  jwks = JSON.stringify({...(await exportJWK(k.publicKey)), kid: 'p1'});
  redis = await startRedis();
});

after(async () => {
  if (skip) return;
  await redis.close();
  assertNoSecretsLogged([keys.app, redis.password, cacheKey, ...seen]);
});

const env = (url: string) => ({
  TVM_ISSUER: ISSUER,
  TVM_REDIS_URL: url,
  TVM_CACHE_KEY: cacheKey,
  TVM_RATE_LIMIT_PER_IP: '1000000',
  TVM_RATE_LIMIT_PER_CLIENT: '1000000',
});

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

interface Outcome {
  readonly kind: 'key' | 'assertion';
  readonly at: number;
  readonly status: number;
  readonly retryAfter: string | null;
  readonly ms: number;
}

async function byKey(url: string): Promise<Outcome> {
  const t0 = performance.now();
  const r = await postForm(
    `${url}/token`,
    {
      grant_type: 'client_credentials',
      audience: 'one',
      scope: 'cloud-platform',
    },
    {authorization: basic('app', keys.app)},
  );
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return {
    kind: 'key',
    at: t0,
    status: r.status,
    retryAfter: r.headers.get('retry-after'),
    ms: performance.now() - t0,
  };
}

function assertionForm(jwt: string): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    client_assertion_type:
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
    audience: 'one',
    scope: 'cloud-platform',
  };
}

const sign = () =>
  new SignJWT({jti: randomUUID()})
    .setProtectedHeader({alg: 'ES256', kid: 'p1'})
    .setIssuer('partner')
    .setSubject('partner')
    .setAudience(ISSUER)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(partnerKey);

async function byAssertion(url: string): Promise<Outcome> {
  const jwt = await sign();
  const t0 = performance.now();
  const r = await postForm(`${url}/token`, assertionForm(jwt));
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return {
    kind: 'assertion',
    at: t0,
    status: r.status,
    retryAfter: r.headers.get('retry-after'),
    ms: performance.now() - t0,
  };
}

/** Steady load on every instance until `stop()`; 4 callers per instance. */
function load(fleet: Fleet): {stop(): Promise<Outcome[]>} {
  let running = true;
  const out: Outcome[] = [];
  const workers = fleet.instances.flatMap(inst =>
    [0, 1, 2, 3].map(async w => {
      while (running) {
        out.push(await (w % 2 ? byAssertion(inst.url) : byKey(inst.url)));
      }
    }),
  );
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return out;
    },
  };
}

/** Checks what every outcome may be while the store fails. */
function assertOnlyStated503s(outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    if (o.kind === 'key') {
      assert.equal(o.status, 200, 'an API-key request is always served');
    } else {
      assert.ok(
        o.status === 200 || o.status === 503,
        `an assertion is accepted or refused with 503, got ${o.status}`,
      );
      if (o.status === 503) assert.ok(o.retryAfter, 'with Retry-After');
    }
  }
}

/** An assertion accepted by A is refused by B: the fleet-wide guard is back. */
async function assertReplayGuardIsGlobal(fleet: Fleet): Promise<void> {
  const [a, b] = fleet.instances;
  for (let i = 0; i < 100; i++) {
    const jwt = await sign();
    const first = await postForm(`${a!.url}/token`, assertionForm(jwt));
    if (first.status === 503) {
      await sleep(100);
      continue;
    }
    assert.equal(first.status, 200);
    seen.push(String(first.body.access_token));
    // B may still be reconnecting: then it refuses the replay with 503 (fail
    // closed). It must never accept it, and refuses it with 401 once it is back.
    for (let j = 0; j < 100; j++) {
      const replay = await postForm(`${b!.url}/token`, assertionForm(jwt));
      assert.notEqual(replay.status, 200, 'a replay is never accepted');
      if (replay.status === 503) {
        await sleep(100);
        continue;
      }
      assert.equal(replay.status, 401);
      return;
    }
    assert.fail('B did not get the store back');
  }
  assert.fail('the replay guard did not come back');
}

function assertAlive(fleet: Fleet): void {
  for (const inst of fleet.instances) {
    assert.equal(inst.exited(), false, `${inst.name} is running`);
    assert.deepEqual(
      inst.other.filter(l => /unhandled|Error|ioredis/i.test(l)),
      [],
      `${inst.name} wrote nothing but JSON log lines`,
    );
    assert.deepEqual(
      inst.logs
        .filter(l => l.severity === 'ERROR' || l.severity === 'CRITICAL')
        // The operator line of each stated 503 (src/audit.ts).
        .filter(
          l =>
            !/replay guard: shared store unavailable/.test(
              JSON.stringify(l.error),
            ),
        )
        .map(l => JSON.stringify(l)),
      [],
    );
  }
}

void describe(
  'Redis stopped and restarted, then slow, under load',
  {skip},
  () => {
    let fleet: Fleet;
    before(async () => {
      fleet = await startFleet({
        policy: policy(jwks),
        keys,
        env: env(redis.url),
      });
      await waitConnected(fleet);
    });
    after(() => fleet.close());

    void test('stopped mid-load, then restarted: per-instance fallback, 503 for assertions only, recovery without a restart', async () => {
      const l = load(fleet);
      let down = 0;
      let up = 0;
      try {
        await sleep(800);
        await redis.stop();
        down = performance.now();
        await sleep(2000);
        await redis.start();
        up = performance.now();
        await sleep(500);
        await assertReplayGuardIsGlobal(fleet);
        await sleep(500);
      } finally {
        await l.stop();
      }
      const outcomes = await l.stop();
      assertOnlyStated503s(outcomes);
      const during = outcomes.filter(o => o.at > down + 100 && o.at < up);
      assert.ok(
        during.some(o => o.kind === 'assertion' && o.status === 503),
        'assertions were refused while Redis was down',
      );
      assert.ok(
        during.some(o => o.kind === 'key' && o.status === 200),
        'API-key requests were served while Redis was down',
      );
      const served = outcomes.filter(o => o.status === 200).length;
      console.log(
        `stop/restart: ${outcomes.length} requests, ${served} served, ${outcomes.length - served} refused with 503 (assertions)`,
      );
      for (const inst of fleet.instances) {
        for (const [what, lost, back] of [
          [
            'rate limits',
            /^rate limits: shared store unavailable/,
            /^rate limits: shared store back/,
          ],
          [
            'replay guard',
            /^replay guard: shared store unavailable/,
            /^replay guard: shared store back/,
          ],
        ] as const) {
          assert.equal(
            operatorLines(inst, lost).length,
            1,
            `${inst.name}: one line when the ${what} lost the store`,
          );
          assert.equal(
            operatorLines(inst, back).length,
            1,
            `${inst.name}: one line when the ${what} got it back`,
          );
        }
      }
      assertAlive(fleet);
    });

    void test('answering nothing for 2 s (SIGSTOP): every request bounded, then recovery', async () => {
      const l = load(fleet);
      try {
        await sleep(500);
        redis.pause();
        await sleep(2000);
        redis.resume();
        await sleep(1500);
        await assertReplayGuardIsGlobal(fleet);
      } finally {
        await l.stop();
      }
      const outcomes = await l.stop();
      assertOnlyStated503s(outcomes);
      const slowest = Math.max(...outcomes.map(o => o.ms));
      console.log(
        `slow Redis: ${outcomes.length} requests, slowest ${slowest.toFixed(0)} ms`,
      );
      // Two rate-limit commands and the replay guard at most, each bounded by the
      // 500 ms command timeout.
      assert.ok(slowest < 2500, `slowest request ${slowest.toFixed(0)} ms`);
      assertAlive(fleet);
    });
  },
);

void describe('Redis with the wrong password', {skip}, () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({
      policy: policy(jwks),
      keys,
      env: env(`redis://:not-the-password@127.0.0.1:${redis.port}/0`),
    });
  });
  after(() => fleet.close());

  void test('API keys are served per instance, assertions refused with 503, nothing crashes', async () => {
    const [a, b] = fleet.instances;
    const outcomes = [
      await byKey(a!.url),
      await byKey(b!.url),
      await byAssertion(a!.url),
      await byAssertion(b!.url),
    ];
    assert.deepEqual(
      outcomes.map(o => o.status),
      [200, 200, 503, 503],
    );
    assertOnlyStated503s(outcomes);
    await sleep(300);
    for (const inst of fleet.instances) {
      assert.equal(
        operatorLines(inst, /^replay guard: shared store unavailable/).length,
        1,
      );
      assert.ok(
        !inst.logs.some(l => JSON.stringify(l).includes('not-the-password')),
        'the password is not logged',
      );
    }
    assertAlive(fleet);
  });
});
