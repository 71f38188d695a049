/**
 * Subjects of domain-wide delegation: the Workspace users a grant may act for. The
 * policy lists exact addresses (`alice@corp.example`) or whole domains
 * (`*@corp.example`), compiled once at load; a request names one address, compared
 * without regard to ASCII case as Google compares them.
 *
 * A `*` stands for the whole local part and nothing else: `*@corp.example` matches
 * every user of `corp.example` and of no other domain (not `evil-corp.example`, not
 * `sub.corp.example`). Anything else with a `*` (`a*@corp.example`, `*@*.corp.example`,
 * `*@corp.*`, `*`) is refused at load: it would match across a name boundary and widen
 * trust, as claim patterns refuse (src/policy/pattern.ts).
 */

import {asciiLower, printable} from '../text.ts';
import {fail, ok, type Parsed} from './result.ts';

/** Longest address accepted (RFC 5321 §4.5.3.1.3 path limit less the brackets). */
export const MAX_SUBJECT_CHARS = 254;

/** The local part of an address: RFC 5322 atext and dots, 1 to 64 characters. */
const LOCAL = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}";
/** A DNS domain of two labels or more. */
const DOMAIN =
  '(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const ADDRESS = new RegExp(`^${LOCAL}@${DOMAIN}$`);
const WHOLE_DOMAIN = new RegExp(`^\\*@(${DOMAIN})$`);

/** One entry of a grant's `delegation.subjects`. */
export type SubjectMatcher =
  | {readonly kind: 'exact'; readonly source: string; readonly email: string}
  | {readonly kind: 'domain'; readonly source: string; readonly domain: string};

/** The lower-cased address `s` names, or undefined when it is not an address. */
export function parseSubject(s: string): string | undefined {
  if (s.length > MAX_SUBJECT_CHARS || !ADDRESS.test(s) || s.includes('*')) {
    return undefined;
  }
  return asciiLower(s);
}

/** Compiles one `delegation.subjects` entry. */
export function compileSubject(entry: string): Parsed<SubjectMatcher> {
  const shown = printable(entry);
  const whole = WHOLE_DOMAIN.exec(entry);
  if (whole) {
    return ok(
      Object.freeze({
        kind: 'domain' as const,
        source: entry,
        domain: asciiLower(whole[1]!),
      }),
    );
  }
  if (entry.includes('*')) {
    return fail(
      `"${shown}": a * must be the whole local part of the address (*@corp.example); anywhere else it would match across a name boundary and widen trust`,
    );
  }
  const email = parseSubject(entry);
  if (email === undefined) {
    return fail(
      `"${shown}" is not a user's email address (or *@domain for every user of a domain)`,
    );
  }
  return ok(Object.freeze({kind: 'exact' as const, source: entry, email}));
}

/** The first entry of `matchers` that `email` (lower-cased) meets. */
export function matchSubject(
  matchers: readonly SubjectMatcher[],
  email: string,
): SubjectMatcher | undefined {
  const domain = email.slice(email.lastIndexOf('@') + 1);
  return matchers.find(m =>
    m.kind === 'exact' ? m.email === email : m.domain === domain,
  );
}

/** The key two entries that match the same addresses share (for duplicates). */
export function subjectKey(m: SubjectMatcher): string {
  return m.kind === 'exact' ? m.email : `*@${m.domain}`;
}
