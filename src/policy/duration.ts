/**
 * Durations in the policy (`max_lifetime`): integer seconds (`900`) or a Go-like
 * `<n>h<n>m<n>s` combination (`15m`, `1h30m`, `90s`), units in that order, each at most
 * once. Fractions and other units are refused: a lifetime is whole seconds on the wire.
 */

import {fail, ok, type Parsed} from './result.ts';

/** Shortest lifetime a grant may name: anything shorter is useless for a caller. */
export const MIN_GRANT_LIFETIME_SECONDS = 60;
/** Longest lifetime IAM ever issues (12 h, with the lifetime-extension constraint). */
export const MAX_GRANT_LIFETIME_SECONDS = 43200;

const UNITS = /^(?:(\d{1,5})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/;
const SECONDS = /^\d{1,9}$/;

/** Parses a duration into seconds, without range checks. */
export function parseDuration(input: number | string): Parsed<number> {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0
      ? ok(input)
      : fail(
          'must be a whole number of seconds or a duration such as 15m or 1h30m',
        );
  }
  if (SECONDS.test(input)) return ok(Number(input));
  const m = UNITS.exec(input);
  if (input === '' || m === null) {
    return fail(
      `"${input}" is not a duration: use whole seconds or <n>h<n>m<n>s, e.g. 15m or 1h30m`,
    );
  }
  const [, h = '0', min = '0', s = '0'] = m;
  return ok(Number(h) * 3600 + Number(min) * 60 + Number(s));
}

/** Parses a grant lifetime: a duration between 60 s and 12 h. */
export function parseGrantLifetime(input: number | string): Parsed<number> {
  const d = parseDuration(input);
  if (!d.ok) return d;
  if (d.value < MIN_GRANT_LIFETIME_SECONDS) {
    return fail(`must be at least ${MIN_GRANT_LIFETIME_SECONDS}s`);
  }
  if (d.value > MAX_GRANT_LIFETIME_SECONDS) {
    return fail(
      `must be at most 12h (${MAX_GRANT_LIFETIME_SECONDS}s), the longest lifetime IAM issues`,
    );
  }
  return d;
}
