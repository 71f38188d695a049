/**
 * The limiters of src/http/rate-limit.ts on their own: the in-memory store's window on
 * the injected clock, draft-8 headers and the refusal, and a store that answers with
 * promises (as a shared one does) waited for.
 */
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import type {ServerResponse} from 'node:http';
import {ipKeyGenerator, type Store} from 'express-rate-limit';
import {TvmError} from '../../src/errors.ts';
import {
  createMemoryStore,
  createRateLimiters,
} from '../../src/http/rate-limit.ts';

/** Just the header methods the limiter uses. */
function fakeResponse() {
  const headers = new Map<string, string[]>();
  const res = {
    headersSent: false,
    appendHeader(name: string, value: string) {
      headers.set(name, [...(headers.get(name) ?? []), value]);
      return res;
    },
    setHeader(name: string, value: string) {
      headers.set(name, [value]);
      return res;
    },
  };
  return {res: res as unknown as ServerResponse, headers};
}

void describe('in-memory store', () => {
  void test('a fixed window from the first hit, on the injected clock', () => {
    const clock = {t: 1_000_000, now: () => clock.t};
    const store = createMemoryStore(clock);
    void store.init?.({windowMs: 60_000} as never);
    try {
      assert.deepEqual(store.increment('k'), {
        totalHits: 1,
        resetTime: new Date(1_060_000),
      });
      clock.t += 59_999;
      assert.equal((store.increment('k') as {totalHits: number}).totalHits, 2);
      clock.t += 1;
      assert.deepEqual(store.increment('k'), {
        totalHits: 1,
        resetTime: new Date(1_120_000),
      });
    } finally {
      void store.shutdown?.();
    }
  });
});

void describe('per-client limiter', () => {
  void test('answers at once with the in-memory store; over the limit: Retry-After and a refusal', () => {
    const clock = {t: 5_000, now: () => clock.t};
    const limiters = createRateLimiters({perIp: 10, perClient: 2, clock});
    const first = fakeResponse();
    assert.equal(limiters.perClient(first.res, 'a'), undefined);
    assert.deepEqual(first.headers.get('RateLimit'), ['"client"; r=1; t=60']);
    assert.match(
      first.headers.get('RateLimit-Policy')![0]!,
      /^"client"; q=2; w=60; pk=:[A-Za-z0-9+/=]+:$/,
    );
    assert.equal(limiters.perClient(fakeResponse().res, 'a'), undefined);
    const over = fakeResponse();
    clock.t += 10_500;
    assert.throws(
      () => limiters.perClient(over.res, 'a'),
      (e: unknown) => e instanceof TvmError && e.code === 'ERR_RATE_LIMITED',
    );
    assert.deepEqual(over.headers.get('RateLimit'), ['"client"; r=0; t=50']);
    assert.deepEqual(over.headers.get('Retry-After'), ['50']);
    // Another client has its own budget.
    assert.equal(limiters.perClient(fakeResponse().res, 'b'), undefined);
  });

  void test("a store that answers with promises is waited for, under the limiter's prefix", async () => {
    const seen: string[] = [];
    const prefixes: string[] = [];
    const asyncStore = (prefix: string): Store => {
      prefixes.push(prefix);
      const hits = new Map<string, number>();
      return {
        prefix,
        localKeys: false,
        async increment(key) {
          seen.push(prefix + key);
          const n = (hits.get(key) ?? 0) + 1;
          hits.set(key, n);
          return {totalHits: n, resetTime: undefined};
        },
        async decrement() {},
        async resetKey() {},
      };
    };
    const limiters = createRateLimiters({
      perIp: 10,
      perClient: 1,
      store: asyncStore,
    });
    assert.deepEqual(prefixes, ['tvm-ip:', 'tvm-client:']);
    const ok = fakeResponse();
    const pending = limiters.perClient(ok.res, 'a');
    assert.ok(pending instanceof Promise);
    await pending;
    assert.deepEqual(ok.headers.get('RateLimit'), ['"client"; r=0; t=60']);
    await assert.rejects(
      limiters.perClient(fakeResponse().res, 'a')!,
      (e: unknown) => e instanceof TvmError && e.code === 'ERR_RATE_LIMITED',
    );
    assert.deepEqual(seen, ['tvm-client:a', 'tvm-client:a']);
  });
});

void describe('per-IP limiter', () => {
  void test("keys as express-rate-limit's ipKeyGenerator does: IPv4 as it is, IPv6 by /56, IPv4-mapped as IPv4", () => {
    const keys: string[] = [];
    const recording = (prefix: string): Store => ({
      prefix,
      localKeys: true,
      increment(key) {
        keys.push(prefix + key);
        return {totalHits: 1, resetTime: undefined};
      },
      decrement() {},
      resetKey() {},
    });
    const limiters = createRateLimiters({
      perIp: 10,
      perClient: 10,
      store: recording,
    });
    for (const ip of [
      '198.51.100.7',
      '2001:db8:5:12::1',
      '2001:db8:5:ff::9',
      '::ffff:198.51.100.7',
      '',
    ]) {
      assert.equal(limiters.perIp(fakeResponse().res, ip), undefined);
    }
    assert.deepEqual(keys, [
      'tvm-ip:198.51.100.7',
      'tvm-ip:2001:db8:5::/56',
      'tvm-ip:2001:db8:5::/56',
      'tvm-ip:198.51.100.7',
      'tvm-ip:unknown',
    ]);
  });

  void test('keys every kind of address exactly as ipKeyGenerator does', () => {
    const keys: string[] = [];
    const limiters = createRateLimiters({
      perIp: 1_000_000,
      perClient: 10,
      store: prefix => ({
        prefix,
        localKeys: true,
        increment(key) {
          keys.push(key);
          return {totalHits: 1, resetTime: undefined};
        },
        decrement() {},
        resetKey() {},
      }),
    });
    const addresses = [
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.255',
      '::ffff:255.255.255.255',
      '::FFFF:198.51.100.7',
      '::ffff:0:198.51.100.7',
      '::ffff:c633:6407',
      '::ffff:1.2.3',
      '::ffff:1.2.3.256',
      '::ffff:01.2.3.4',
      '::ffff:',
      '0:0:0:0:0:ffff:198.51.100.7',
      '::1',
      '::',
      'fe80::1%eth0',
      '2001:db8::ffff:1.2.3.4',
      '64:ff9b::198.51.100.7',
    ];
    // 200 more, the same each run (a linear congruential sequence).
    let seed = 20261202;
    const octet = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % 256;
    };
    for (let i = 0; i < 200; i++) {
      addresses.push(`::ffff:${octet()}.${octet()}.${octet()}.${octet()}`);
    }
    for (const ip of addresses) {
      keys.length = 0;
      let expected: string;
      try {
        expected = ipKeyGenerator(ip, 56);
      } catch (e) {
        assert.throws(() => limiters.perIp(fakeResponse().res, ip), {
          message: (e as Error).message,
        });
        continue;
      }
      assert.equal(limiters.perIp(fakeResponse().res, ip), undefined);
      assert.deepEqual(keys, [expected], ip);
    }
  });
});
