/**
 * The kill switch under load, on two instances sharing Redis: a client disabled in
 * the policy gets no token from either instance once the policy was re-read (the
 * bound is TVM_POLICY_REFRESH_SECONDS, here 5 s), cached tokens included; a disabled
 * service account is granted to nobody; the emergency lifetime ceiling applies to
 * tokens already cached. See docs/incident.md.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {startFleet, waitConnected, type Fleet} from '../support/fleet.ts';
import {haveRedis, startRedis, type TestRedis} from '../support/redis.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
} from '../support/stack.ts';

const REFRESH_SECONDS = 5;
const keys = {victim: newKey(), bystander: newKey()};
const cacheKey = randomBytes(32).toString('base64');
const skip = haveRedis() ? false : 'redis-server is not installed';
let redis: TestRedis;
let fleet: Fleet;
const seen: string[] = [];

const policy = (o: {client?: string; account?: string; top?: string}) => `
version: 1
${o.top ?? ''}
service_accounts:
  one:
    email: one@tvm-local.iam.gserviceaccount.com
    ${o.account ?? ''}
clients:
  victim:
    ${o.client ?? ''}
    api_keys:
      - sha256: "{{KEY:victim}}"
    allow:
      - service_account: one
        scopes: [cloud-platform]
  bystander:
    api_keys:
      - sha256: "{{KEY:bystander}}"
    allow:
      - service_account: one
        scopes: [cloud-platform]
`;

before(async () => {
  if (skip) return;
  redis = await startRedis();
  fleet = await startFleet({
    policy: policy({}),
    keys,
    env: {
      TVM_REDIS_URL: redis.url,
      TVM_CACHE_KEY: cacheKey,
      TVM_POLICY_REFRESH_SECONDS: String(REFRESH_SECONDS),
      TVM_RATE_LIMIT_PER_IP: '1000000',
      TVM_RATE_LIMIT_PER_CLIENT: '1000000',
    },
  });
  await waitConnected(fleet);
});

after(async () => {
  if (skip) return;
  await fleet.close();
  await redis.close();
  assertNoSecretsLogged([
    ...Object.values(keys),
    redis.password,
    cacheKey,
    ...seen,
  ]);
});

interface Outcome {
  readonly who: 'victim' | 'bystander';
  readonly at: number;
  readonly status: number;
  readonly expiresIn: number | undefined;
  readonly token: string | undefined;
}

async function vend(url: string, who: Outcome['who']): Promise<Outcome> {
  const at = performance.now();
  const r = await postForm(
    `${url}/token`,
    {
      grant_type: 'client_credentials',
      audience: 'one',
      scope: 'cloud-platform',
    },
    {authorization: basic(who, keys[who])},
  );
  const token =
    typeof r.body.access_token === 'string' ? r.body.access_token : undefined;
  if (token) seen.push(token);
  return {
    who,
    at,
    status: r.status,
    expiresIn:
      typeof r.body.expires_in === 'number' ? r.body.expires_in : undefined,
    token,
  };
}

/** Load on both instances from both clients until stop(). */
function load(): {stop(): Promise<Outcome[]>} {
  let running = true;
  const out: Outcome[] = [];
  const workers = fleet.instances.flatMap(inst =>
    (['victim', 'bystander', 'victim', 'bystander'] as const).map(async who => {
      while (running) {
        out.push(await vend(inst.url, who));
        await new Promise(r => setTimeout(r, 10));
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

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
/** The policy is re-read within REFRESH_SECONDS; a little more for the read itself. */
const BOUND_MS = REFRESH_SECONDS * 1000 + 700;

void describe('kill switch under load, two instances', {skip}, () => {
  void test('a disabled client gets nothing from either instance after the reload bound, cached tokens included', async () => {
    const l = load();
    await sleep(1000);
    const switched = performance.now();
    fleet.writePolicy(policy({client: 'disabled: true'}));
    await sleep(BOUND_MS + 1000);
    const outcomes = await l.stop();
    const before = outcomes.filter(o => o.at < switched);
    assert.ok(
      before.some(o => o.who === 'victim' && o.status === 200),
      'the victim was served before',
    );
    const late = outcomes.filter(
      o => o.who === 'victim' && o.at > switched + BOUND_MS,
    );
    assert.ok(late.length > 10, 'the victim kept asking');
    assert.deepEqual([...new Set(late.map(o => o.status))], [401]);
    const lastServed = Math.max(
      ...outcomes
        .filter(o => o.who === 'victim' && o.status === 200)
        .map(o => o.at),
    );
    console.log(
      `kill switch: last token to the disabled client ${((lastServed - switched) / 1000).toFixed(2)} s after the policy changed (bound ${BOUND_MS / 1000} s)`,
    );
    assert.ok(
      outcomes.filter(o => o.who === 'bystander').every(o => o.status === 200),
      'the other client is served throughout',
    );
  });

  void test('a disabled service account is granted to nobody, though its token is cached', async () => {
    const warm = await vend(fleet.instances[0]!.url, 'bystander');
    assert.equal(warm.status, 200);
    const switched = performance.now();
    fleet.writePolicy(
      policy({client: 'disabled: true', account: 'disabled: true'}),
    );
    await sleep(BOUND_MS);
    for (const inst of fleet.instances) {
      const r = await vend(inst.url, 'bystander');
      assert.equal(r.status, 403, `${inst.name}`);
    }
    assert.ok(performance.now() - switched < BOUND_MS + 2000);
  });

  void test('the emergency lifetime ceiling applies to cached tokens at the next reload', async () => {
    fleet.writePolicy(policy({}));
    await sleep(BOUND_MS);
    const long = await vend(fleet.instances[0]!.url, 'bystander');
    assert.equal(long.status, 200);
    assert.ok(long.expiresIn! > 3000, 'a one-hour token, now cached');
    fleet.writePolicy(policy({top: 'emergency_max_lifetime: 10m'}));
    await sleep(BOUND_MS);
    for (const inst of fleet.instances) {
      const r = await vend(inst.url, 'bystander');
      assert.equal(r.status, 200);
      assert.ok(r.expiresIn! <= 600, `${inst.name}: expires_in ${r.expiresIn}`);
      assert.notEqual(r.token, long.token, 'not the cached one-hour token');
    }
  });

  void test('through the shared store, a change one instance saw reaches one that refreshes hourly within 5 s', async () => {
    const fast = fleet.instances[0]!;
    const slow = await startFleet({
      policy: policy({}),
      keys,
      size: 1,
      env: {
        TVM_REDIS_URL: redis.url,
        TVM_CACHE_KEY: cacheKey,
        TVM_POLICY_REFRESH_SECONDS: '3600',
        TVM_POLICY: fleet.policyPath,
        // The limits are global: this instance counts with the others.
        TVM_RATE_LIMIT_PER_IP: '1000000',
        TVM_RATE_LIMIT_PER_CLIENT: '1000000',
      },
    });
    try {
      await waitConnected(slow);
      const lazy = slow.instances[0]!;
      fleet.writePolicy(policy({}));
      await sleep(BOUND_MS + 2500); // the fleet re-read it, the signal settled
      assert.equal((await vend(lazy.url, 'victim')).status, 200);
      fleet.writePolicy(policy({client: 'disabled: true'}));
      const written = performance.now();
      // The fast instance sees it within its refresh; the lazy one follows the signal.
      let seenByFast: number | undefined;
      let seenByLazy: number | undefined;
      while (performance.now() - written < BOUND_MS + 6000) {
        if (
          seenByFast === undefined &&
          (await vend(fast.url, 'victim')).status === 401
        )
          seenByFast = performance.now();
        if (
          seenByLazy === undefined &&
          (await vend(lazy.url, 'victim')).status === 401
        )
          seenByLazy = performance.now();
        if (seenByFast !== undefined && seenByLazy !== undefined) break;
        await sleep(100);
      }
      assert.ok(seenByFast !== undefined, 'the fast instance refused');
      assert.ok(seenByLazy !== undefined, 'the hourly instance refused too');
      console.log(
        `policy signal: the hourly instance refused ${((seenByLazy - seenByFast) / 1000).toFixed(2)} s after the first instance did`,
      );
      assert.ok(seenByLazy - seenByFast < 5000);
    } finally {
      await slow.close();
    }
  });

  void test('neither instance crashed', () => {
    for (const inst of fleet.instances) {
      assert.equal(inst.exited(), false);
      assert.deepEqual(
        inst.other.filter(l => /unhandled|Error|ioredis/i.test(l)),
        [],
      );
    }
  });
});
