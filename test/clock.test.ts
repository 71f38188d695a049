import assert from 'node:assert/strict';
import {setTimeout as sleep} from 'node:timers/promises';
import {test} from 'node:test';
import {systemMonotonicClock} from '../src/clock.ts';
import {monotonicNow} from '../src/google/upstream.ts';

void test('the monotonic clock counts real milliseconds and never goes back', async () => {
  const t0 = systemMonotonicClock.now();
  let last = t0;
  for (let i = 0; i < 10_000; i++) {
    const t = systemMonotonicClock.now();
    assert.ok(t >= last, `went back: ${t} after ${last}`);
    last = t;
  }
  await sleep(50);
  const elapsed = systemMonotonicClock.now() - t0;
  // A timer waits at least its delay (a millisecond's rounding aside), and 50 ms are
  // not 50 s nor 50 us: the clock counts milliseconds.
  assert.ok(elapsed >= 49, `elapsed ${elapsed} ms`);
  assert.ok(elapsed < 50_000, `elapsed ${elapsed} ms`);
  // Fractions of a millisecond, as performance.now() gave.
  assert.notEqual(elapsed, Math.round(elapsed));
});

void test('deadlines use the same clock', () => {
  const a = systemMonotonicClock.now();
  const b = monotonicNow();
  const c = systemMonotonicClock.now();
  assert.ok(a <= b && b <= c);
});

void test('loading the clock does not load perf_hooks', async () => {
  const {spawnSync} = await import('node:child_process');
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const {systemMonotonicClock} = await import(${JSON.stringify(new URL('../src/clock.ts', import.meta.url).href)});
       systemMonotonicClock.now();
       console.log(process.moduleLoadList.some(m => m.endsWith(' perf_hooks')));`,
    ],
    {encoding: 'utf8'},
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'false');
});
