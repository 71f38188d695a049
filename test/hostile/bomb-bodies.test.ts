/**
 * The bombs of test/hostile/bombs.test.ts are what they claim to be. Inflating 1 GiB
 * three times takes tens of seconds on a shared core, so `npm test` checks that each
 * inflates past 64 MiB; `npm run fuzz` (TVM_SLOW_CHECKS=1) counts every byte.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {BROTLI_1GIB, GiB, gzipBomb, inflatedSize} from './bomb-bodies.ts';

const full = process.env.TVM_SLOW_CHECKS === '1';
const stopAfter = full ? Infinity : 64 * 1024 * 1024;

const bombs = [
  {name: 'brotli', encoding: 'br', body: () => BROTLI_1GIB, maxBytes: 1024},
  {
    name: 'gzip',
    encoding: 'gzip',
    body: () => gzipBomb('gzip'),
    maxBytes: 2 ** 21,
  },
  {
    name: 'deflate',
    encoding: 'deflate',
    body: () => gzipBomb('deflate'),
    maxBytes: 2 ** 21,
  },
] as const;

for (const b of bombs) {
  void test(`the ${b.name} bomb is small and inflates to ${full ? '1 GiB' : 'over 64 MiB'}`, async () => {
    const body = b.body();
    assert.ok(body.length < b.maxBytes, `${body.length} bytes`);
    const n = await inflatedSize(body, b.encoding, stopAfter);
    if (full) assert.equal(n, GiB);
    else assert.ok(n > stopAfter, `${n} bytes`);
  });
}
