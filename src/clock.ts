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

/** The process's monotonic clock (`performance.now()`). */
export const systemMonotonicClock: MonotonicClock = Object.freeze({
  now: () => performance.now(),
});
