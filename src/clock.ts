/** Time, injected everywhere so tests can freeze and move it. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** The real wall clock. */
export const systemClock: Clock = Object.freeze({now: () => Date.now()});
