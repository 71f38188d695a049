/**
 * The token cache's invariant, on its own: a token handed out from the cache has no
 * more than the lifetime asked left, and at least min(300 s, lifetime).
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {createTokenCache} from '../../src/mint/token-cache.ts';

const T = Date.UTC(2026, 10, 29, 12, 0, 0);

function setup() {
  let now = T;
  const clock = {now: () => now};
  const cache = createTokenCache({clock});
  let mints = 0;
  const mint = (lifetimeSeconds: number) => async () => {
    mints++;
    return {accessToken: `t${mints}`, expiresAt: now + lifetimeSeconds * 1000};
  };
  return {
    cache,
    mint,
    mints: () => mints,
    set: (t: number) => (now = t),
  };
}

const cases: {
  name: string;
  /** Seconds from T of the second request. */
  at: number;
  firstLifetime: number;
  secondLifetime: number;
  reused: boolean;
}[] = [
  {
    name: 'same class, plenty left: reused',
    at: 100,
    firstLifetime: 900,
    secondLifetime: 900,
    reused: true,
  },
  {
    name: 'exactly 300 s left: reused',
    at: 600,
    firstLifetime: 900,
    secondLifetime: 900,
    reused: true,
  },
  {
    name: '299 s left: re-minted',
    at: 601,
    firstLifetime: 900,
    secondLifetime: 900,
    reused: false,
  },
  {
    name: 'a short lifetime is only ever served fresh',
    at: 1,
    firstLifetime: 120,
    secondLifetime: 120,
    reused: false,
  },
  {
    name: 'more left than asked (a longer token under the same key): re-minted',
    at: 0,
    firstLifetime: 3600,
    secondLifetime: 600,
    reused: false,
  },
  {
    name: 'the clock went back: more left than asked, re-minted',
    at: -120,
    firstLifetime: 600,
    secondLifetime: 600,
    reused: false,
  },
];

for (const c of cases) {
  void test(c.name, async () => {
    const {cache, mint, mints, set} = setup();
    const first = await cache.get('k', c.firstLifetime, mint(c.firstLifetime));
    assert.equal(first.cached, false);
    set(T + c.at * 1000);
    const second = await cache.get(
      'k',
      c.secondLifetime,
      mint(c.secondLifetime),
    );
    assert.equal(second.cached, c.reused);
    assert.equal(mints(), c.reused ? 1 : 2);
    const left = second.expiresAt - (T + c.at * 1000);
    assert.ok(
      left <= c.secondLifetime * 1000,
      `left ${left} ms exceeds the lifetime asked`,
    );
  });
}

void test('a failed mint is not cached and does not block the next one', async () => {
  const {cache, mint, mints} = setup();
  await assert.rejects(
    cache.get('k', 900, async () => {
      throw new Error('upstream');
    }),
    /upstream/,
  );
  const t = await cache.get('k', 900, mint(900));
  assert.equal(t.cached, false);
  assert.equal(mints(), 1);
});

void test('bounded: the least recently used entry goes first', async () => {
  let now = T;
  const cache = createTokenCache({clock: {now: () => now}, maxEntries: 2});
  const mint = (id: string) => async () => ({
    accessToken: id,
    expiresAt: now + 900_000,
  });
  await cache.get('a', 900, mint('a'));
  await cache.get('b', 900, mint('b'));
  await cache.get('a', 900, mint('a2')); // a is now the most recent
  await cache.get('c', 900, mint('c'));
  assert.equal(cache.size, 2);
  now += 1000;
  assert.equal((await cache.get('a', 900, mint('a3'))).accessToken, 'a');
  assert.equal((await cache.get('b', 900, mint('b2'))).accessToken, 'b2');
});

void test('bounded: evicts as a plain least-recently-used list would, over a long run', async () => {
  const now = T;
  const max = 3;
  const cache = createTokenCache({clock: {now: () => now}, maxEntries: max});
  // The model: keys, least recently used first.
  let model: string[] = [];
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  let mints = 0;
  for (let i = 0; i < 500; i++) {
    const key = `k${(next() >>> 16) % 6}`;
    const r = await cache.get(key, 900, async () => {
      mints++;
      return {accessToken: `${key}-${mints}`, expiresAt: now + 900_000};
    });
    const hit = model.includes(key);
    assert.equal(r.cached, hit, `step ${i}: ${key}`);
    model = [...model.filter(k => k !== key), key];
    if (model.length > max) model = model.slice(model.length - max);
    assert.equal(cache.size, model.length);
    for (const k of model) assert.ok(cache.peek(k, 900), `${k} kept`);
  }
  assert.ok(mints > 50 && mints < 500, `${mints} mints`);
});
