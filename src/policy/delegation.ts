/**
 * The narrowing parts of a grant, compiled: domain-wide delegation (whom a token may
 * act for, with which scopes) and the Credential Access Boundary a grant forces or
 * allows. Values were checked one by one by the schema; the rules that relate them to
 * each other and to the rest of the grant are here.
 */

import {compileBoundary} from './access-boundary.ts';
import {FrozenSet} from './frozen.ts';
import type {Issues} from './issues.ts';
import type {RawAccessBoundary, RawDelegation} from './schema.ts';
import {subjectKey} from './subject.ts';
import {
  DELEGATED_LIFETIME_SECONDS,
  type Delegation,
  type GrantBoundary,
} from './types.ts';

/**
 * A grant's `delegation`, or undefined (with issues) when it cannot be honoured:
 * delegated tokens come from Google's JWT-bearer grant and always live one hour, so
 * a grant whose `max_lifetime` is shorter could not hand one out without it
 * outliving the grant.
 */
export function compileDelegation(
  raw: RawDelegation,
  maxLifetimeSeconds: number,
  issues: Issues,
): Delegation | undefined {
  const before = issues.count;
  if (maxLifetimeSeconds < DELEGATED_LIFETIME_SECONDS) {
    issues.add(
      [],
      `delegated tokens always live 1h (Google's JWT-bearer grant), so the grant's max_lifetime must be at least 1h (got ${maxLifetimeSeconds}s)`,
    );
  }
  const seen = new Map<string, number>();
  for (const [i, m] of raw.subjects.entries()) {
    const key = subjectKey(m);
    const first = seen.get(key);
    if (first !== undefined) {
      issues.add(['subjects', i], `duplicate of [${first}] (${key})`);
    } else {
      seen.set(key, i);
    }
  }
  // An address that a whole-domain entry already covers says nothing more: likely a
  // mistake about which users are meant.
  for (const [i, m] of raw.subjects.entries()) {
    if (m.kind !== 'exact') continue;
    const domain = m.email.slice(m.email.lastIndexOf('@') + 1);
    const whole = raw.subjects.findIndex(
      o => o.kind === 'domain' && o.domain === domain,
    );
    if (whole !== -1) {
      issues.add(
        ['subjects', i],
        `already covered by [${whole}] (*@${domain})`,
      );
    }
  }
  const scopes = new Map<string, number>();
  for (const [i, s] of raw.scopes.entries()) {
    const first = scopes.get(s);
    if (first !== undefined) {
      issues.add(['scopes', i], `duplicate of [${first}] (${s})`);
    } else {
      scopes.set(s, i);
    }
  }
  if (issues.count > before) return undefined;
  return Object.freeze({
    subjects: Object.freeze([...raw.subjects]),
    scopes: new FrozenSet(scopes.keys()),
  });
}

/** A grant's `access_boundary`, compiled into its normalised boundary. */
export function compileGrantBoundary(raw: RawAccessBoundary): GrantBoundary {
  return Object.freeze({
    mode: raw.mode,
    boundary: compileBoundary(
      raw.rules.map(r => ({
        resource: r.resource,
        permissions: r.permissions,
        ...(r.condition === undefined ? {} : {condition: r.condition}),
      })),
    ),
  });
}
