/**
 * Key expiry dates. `expires: 2027-06-30` (a date) means the key stops working at
 * 00:00 UTC on that day, i.e. the last day it works is the day before; a full RFC 3339
 * timestamp with an offset (`2027-06-30T12:00:00Z`) is taken as it is. A timestamp
 * without an offset is refused: its instant would depend on the machine's time zone.
 */

import {fail, ok, type Parsed} from './result.ts';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Parses an expiry into epoch milliseconds. */
export function parseExpiry(input: string): Parsed<number> {
  const d = DATE.exec(input);
  if (d) {
    const [y, mo, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    if (y < MIN_YEAR) return fail(beforeMinYear(input));
    if (!validDate(y, mo, day))
      return fail(`"${input}" is not a calendar date`);
    return ok(Date.UTC(y, mo - 1, day));
  }
  const t = TIMESTAMP.exec(input);
  if (t) {
    const [y, mo, day, h, mi, s] = [1, 2, 3, 4, 5, 6].map(i => Number(t[i]));
    const offH = Number(t[10] ?? 0);
    const offM = Number(t[11] ?? 0);
    if (y! < MIN_YEAR) return fail(beforeMinYear(input));
    if (
      !validDate(y!, mo!, day!) ||
      h! > 23 ||
      mi! > 59 ||
      s! > 59 || // a leap second cannot be represented; refuse rather than guess
      offH > 23 ||
      offM > 59
    ) {
      return fail(`"${input}" is not a valid RFC 3339 timestamp`);
    }
    const frac = t[7] ? Math.floor(Number(`0${t[7]}`) * 1000) : 0;
    const sign = t[9] === '-' ? -1 : 1;
    const offsetMs = sign * (offH * 60 + offM) * 60_000;
    return ok(Date.UTC(y!, mo! - 1, day!, h, mi, s, frac) - offsetMs);
  }
  return fail(
    `"${input.slice(0, 40)}" is not a date (2027-06-30) or an RFC 3339 timestamp with offset (2027-06-30T12:00:00Z)`,
  );
}

/**
 * Years before this are refused: surely typos (a key cannot expire before tvm
 * existed), and Date.UTC would read 0–99 as 1900–1999.
 */
const MIN_YEAR = 2000;

function beforeMinYear(input: string): string {
  return `"${input}" is before the year ${MIN_YEAR}: surely a typo`;
}

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const last = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= last;
}
