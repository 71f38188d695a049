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
});
