/**
 * A grant's `id_token` block compiled: which audiences a client may have ID tokens
 * for, and whether they may carry the account's email. Checked against the account at
 * load: Google's key-based ID tokens always carry the email, so `include_email: false`
 * cannot be honoured for a `mint: key` account and is refused.
 */

import {compileAudiencePattern, parseExactAudience} from './audience.ts';
import {FrozenSet} from './frozen.ts';
import type {Issues} from './issues.ts';
import type {RawIdToken} from './schema.ts';
import type {AudiencePattern} from './audience.ts';
import type {IdTokenGrant, ServiceAccount} from './types.ts';

/** Compiles `raw` for a grant of `sa`; undefined (with issues recorded) when it fails. */
export function compileIdToken(
  raw: RawIdToken,
  sa: ServiceAccount,
  issues: Issues,
): IdTokenGrant | undefined {
  const before = issues.count;
  const exact = new Set<string>();
  const patterns: AudiencePattern[] = [];
  const seen = new Map<string, number>();
  for (const [i, value] of raw.audiences.entries()) {
    const first = seen.get(value);
    if (first !== undefined) {
      issues.add(['audiences', i], `duplicate of [${first}]`);
      continue;
    }
    seen.set(value, i);
    if (value.includes('*')) {
      const p = compileAudiencePattern(value);
      if (p.ok) patterns.push(p.value);
      else issues.add(['audiences', i], p.message);
    } else {
      const e = parseExactAudience(value);
      if (e.ok) exact.add(e.value);
      else issues.add(['audiences', i], e.message);
    }
  }
  if (sa.mint === 'key' && !raw.include_email) {
    issues.add(
      ['include_email'],
      `${sa.alias} is key-minted: Google's key-based ID tokens always carry the email, so include_email cannot be false (use mint: impersonate to leave it out)`,
    );
  }
  if (issues.count > before) return undefined;
  return Object.freeze({
    audiences: new FrozenSet(exact),
    patterns: Object.freeze(patterns),
    includeEmail: raw.include_email,
  });
}

/** True when `grant` allows ID tokens for `audience` (exactly, or by a pattern). */
export function audienceAllowed(
  grant: IdTokenGrant,
  audience: string,
): boolean {
  return audienceMatch(grant, audience) !== undefined;
}

/**
 * How `grant` allows `audience`: `exact`, or the source of the first pattern that
 * matches it; undefined when it does not (for `tvm policy explain`).
 */
export function audienceMatch(
  grant: IdTokenGrant,
  audience: string,
): 'exact' | {readonly pattern: string} | undefined {
  if (grant.audiences.has(audience)) return 'exact';
  const p = grant.patterns.find(q => q.regex.test(audience));
  return p && {pattern: p.source};
}
