/**
 * Time, injected everywhere so tests can freeze and move it. Two kinds: the wall clock
 * (`Clock`, epoch milliseconds: token expiry, key expiry, JWT `exp`) and a monotonic
 * clock (`MonotonicClock`: durations and deadlines, which must not jump when the wall
 * clock is set).
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** Milliseconds from an arbitrary origin that never goes backwards. */
export interface MonotonicClock {
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = Object.freeze({now: () => Date.now()});

/**
 * The process's monotonic clock: `process.hrtime`, in milliseconds. Not
 * `performance.now()`, the same clock: Node loads the whole of `perf_hooks` (with
 * worker_threads) on the first touch of the global `performance`, which would land on
 * a cold start's first request.
 */
export const systemMonotonicClock: MonotonicClock = Object.freeze({
  now: () => Number(process.hrtime.bigint()) / 1e6,
});
