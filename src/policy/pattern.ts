/**
 * Claim conditions of an `oidc` trust: exact values and anchored glob patterns, compiled
 * once at load.
 *
 * A pattern is literal text in which `*` stands for exactly one whole segment: one or
 * more characters other than `/` and `:`, between two separators (or an end of the
 * value). So `repo:my-org/*:ref:refs/heads/main` trusts every repository of `my-org`
 * on `main`, and nothing else. A `*` glued to other text (`my-org*`, `v*`,
 * `*.example.com`) is refused at load: it would match across a name boundary that
 * widens trust (`my-org*` also matches the org `my-org-attacker`). A pattern of `*`
 * segments only matches anything of its shape and is refused too. This is stricter
 * than octo-sts's anchored regular expressions on purpose: what a glob can match is
 * decidable, which is what lets issuers.ts prove two clients apart (see `canOverlap`).
 */

import {fail, ok, type Parsed} from './result.ts';
import {printable} from '../text.ts';

/** Longest value or pattern accepted in a claim condition. */
export const MAX_CONDITION_CHARS = 256;

/** A compiled glob: its segments and separators, and its anchored regex. */
export interface Glob {
  readonly source: string;
  /** Alternating segments and separators: seg, sep, seg, ...; a segment `*` is the wildcard. */
  readonly tokens: readonly string[];
  readonly regex: RegExp;
}

const SEPARATOR_SPLIT = /([/:])/;
/** One segment: no separator and no control character (a CR/LF never matches). */
const ONE_SEGMENT = '[^/:\\x00-\\x1f\\x7f]+';

/** Compiles a claim pattern; refuses the shapes that widen trust. */
export function compileGlob(pattern: string): Parsed<Glob> {
  const shown = printable(pattern);
  if (!/^[\x20-\x7e]+$/.test(pattern)) {
    return fail(`"${shown}": patterns are printable ASCII`);
  }
  if (pattern.length > MAX_CONDITION_CHARS) {
    return fail(`must be at most ${MAX_CONDITION_CHARS} characters`);
  }
  const tokens = pattern.split(SEPARATOR_SPLIT);
  let stars = 0;
  let literal = false;
  for (let i = 0; i < tokens.length; i += 2) {
    const seg = tokens[i]!;
    if (seg === '*') {
      stars++;
    } else if (seg.includes('*')) {
      return fail(
        `"${shown}": a * must be a whole segment between / or : (in "${printable(seg)}" it would match across a name boundary and widen trust)`,
      );
    } else if (seg !== '') {
      literal = true;
    }
  }
  if (stars === 0) {
    return fail(`"${shown}" has no *: use equals for an exact value`);
  }
  if (!literal) {
    return fail(
      `"${shown}" is wildcards only and would match any value of that shape`,
    );
  }
  const body = tokens
    .map((t, i) => (i % 2 === 0 && t === '*' ? ONE_SEGMENT : escapeRegex(t)))
    .join('');
  return ok(
    Object.freeze({
      source: pattern,
      tokens: Object.freeze(tokens),
      regex: new RegExp(`^${body}$`),
    }),
  );
}

/**
 * True when some string matches both globs. Decidable because a `*` never matches a
 * separator: a matching value has exactly the pattern's separators, in order, so two
 * globs overlap only when their separators agree and every pair of segments can match
 * one string (equal literals, or a wildcard against a non-empty literal or another
 * wildcard).
 */
export function globsOverlap(a: Glob, b: Glob): boolean {
  if (a.tokens.length !== b.tokens.length) return false;
  for (let i = 0; i < a.tokens.length; i++) {
    const x = a.tokens[i]!;
    const y = b.tokens[i]!;
    if (i % 2 === 1) {
      if (x !== y) return false;
    } else if (x === '*' || y === '*') {
      if ((x === '*' ? y : x) === '') return false;
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
