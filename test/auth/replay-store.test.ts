/**
 * The in-memory replay store: a key is accepted once until it expires, expired keys
 * make room, and a store full of live keys refuses (fail closed) rather than forget.
 * It answers at once, never through a promise.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  createMemoryReplayStore,
  ReplayStoreFull,
} from '../../src/auth/replay-store.ts';

void describe('memory replay store', () => {
  void test('a key is accepted once while it lives, again after it expired', () => {
    let now = 1_000;
    const store = createMemoryReplayStore({clock: {now: () => now}});
    assert.equal(store.remember('c\nj1', 2_000), true);
    assert.equal(store.remember('c\nj1', 2_000), false);
    assert.equal(store.remember('c\nj2', 2_000), true);
    now = 2_000;
    assert.equal(store.remember('c\nj1', 3_000), true);
  });

  void test('full of live keys: refused; expired keys are purged to make room', () => {
    let now = 0;
    const store = createMemoryReplayStore({
      clock: {now: () => now},
      maxEntries: 2,
    });
    assert.equal(store.remember('a', 100), true);
    assert.equal(store.remember('b', 200), true);
    assert.throws(() => store.remember('c', 300), ReplayStoreFull);
    now = 150; // 'a' expired
    assert.equal(store.remember('c', 300), true);
    assert.equal(store.remember('b', 300), false, 'b still remembered');
  });

  void test('full: refused until its earliest expiry passes, whatever the order of expiries', () => {
    let now = 0;
    const store = createMemoryReplayStore({
      clock: {now: () => now},
      maxEntries: 3,
    });
    assert.equal(store.remember('late', 500), true);
    assert.equal(
      store.remember('early', 100),
      true,
      'a later key, expiring first',
    );
    assert.equal(store.remember('mid', 300), true);
    for (now = 0; now < 100; now += 25) {
      assert.throws(() => store.remember(`x${now}`, 900), ReplayStoreFull);
    }
    now = 100; // 'early' expired: its room is taken, the others are remembered
    assert.equal(store.remember('next', 900), true);
    assert.equal(store.remember('late', 900), false);
    assert.equal(store.remember('mid', 900), false);
    assert.throws(() => store.remember('more', 900), ReplayStoreFull);
    now = 299;
    assert.throws(() => store.remember('more', 900), ReplayStoreFull);
    now = 300; // 'mid' expired
    assert.equal(store.remember('more', 900), true);
    // 'early' was forgotten when it expired: new again, but the store is full.
    assert.throws(() => store.remember('early', 900), ReplayStoreFull);
  });

  void test('a flood against a full store is refused each time, then a key is taken at the earliest expiry', () => {
    let now = 0;
    const store = createMemoryReplayStore({
      clock: {now: () => now},
      maxEntries: 1_000,
    });
    for (let i = 0; i < 1_000; i++) {
      assert.equal(store.remember(`k${i}`, 1_000 + i), true);
    }
    for (let i = 0; i < 1_000; i++) {
      assert.throws(() => store.remember(`n${i}`, 5_000), ReplayStoreFull);
    }
    now = 1_000; // k0 expired
    assert.equal(store.remember('n0', 5_000), true);
    assert.throws(() => store.remember('n1', 5_000), ReplayStoreFull);
    now = 1_001; // k1
    assert.equal(store.remember('n1', 5_000), true);
    assert.equal(store.remember('k2', 5_000), false, 'k2 lives until 1002');
  });
});
