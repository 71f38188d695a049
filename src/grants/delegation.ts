/**
 * The decision on a request that names a `subject` (domain-wide delegation): the grant
 * must allow delegation, the subject must be one it lists (an exact address or a whole
 * domain), and every scope must be one of the delegation's scopes. Delegated tokens
 * always live one hour (Google's JWT-bearer grant), so a lifetime, if asked, must be
 * at least that. A subject no grant allows is refused like an account the policy does
 * not grant: 403 `invalid_target`, audited.
 */
import {TvmError} from '../errors.ts';
import {
  matchSubject,
  parseSubject,
  type SubjectMatcher,
} from '../policy/subject.ts';
import {
  DELEGATED_LIFETIME_SECONDS,
  expandScope,
  type Grant,
} from '../policy/types.ts';

/** What a delegated request is granted. */
export interface DelegatedAccess {
  /** The user, lower-cased. */
  readonly subject: string;
  /** The entry of `delegation.subjects` that allowed it. */
  readonly matched: SubjectMatcher;
  /** Full scope URLs, sorted, without duplicates. */
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
}

/** Decides a delegated request under `grant`; throws TvmError on refusal. */
export function authorizeSubject(
  grant: Grant,
  subject: string,
  scope: string | undefined,
  lifetimeSeconds: number | undefined,
): DelegatedAccess {
  const email = parseSubject(subject);
  if (email === undefined) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      "subject must be a user's email address",
    );
  }
  const delegation = grant.delegation;
  const matched = delegation && matchSubject(delegation.subjects, email);
  if (!delegation || !matched) {
    throw new TvmError(
      'ERR_INVALID_TARGET',
      'this client may not act for the requested subject with this service account',
      {
        detail: delegation
          ? `subject not among the ${delegation.subjects.length} of the grant of ${grant.serviceAccount.alias}`
          : `the grant of ${grant.serviceAccount.alias} allows no delegation`,
      },
    );
  }
  if (scope === undefined) {
    throw new TvmError('ERR_INVALID_REQUEST', 'scope is required with subject');
  }
  const asked = scope.split(' ').filter(s => s !== '');
  if (asked.length === 0 || asked.length > 32) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'scope must list 1 to 32 space-separated scopes',
    );
  }
  const scopes = [...new Set(asked.map(expandScope))].sort();
  const missing = scopes.filter(s => !delegation.scopes.has(s));
  if (missing.length > 0) {
    throw new TvmError(
      'ERR_INVALID_SCOPE',
      `scope not granted for delegation: ${missing.map(s => s.slice(0, 200)).join(' ')}`,
      {detail: `scopes beyond the delegation: ${missing.length}`},
    );
  }
  if (
    lifetimeSeconds !== undefined &&
    (lifetimeSeconds < DELEGATED_LIFETIME_SECONDS ||
      lifetimeSeconds > grant.maxLifetimeSeconds)
  ) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `delegated tokens live ${DELEGATED_LIFETIME_SECONDS} seconds; lifetime must be between ${DELEGATED_LIFETIME_SECONDS} and ${grant.maxLifetimeSeconds} seconds for this grant`,
    );
  }
  return {
    subject: email,
    matched,
    scopes,
    lifetimeSeconds: DELEGATED_LIFETIME_SECONDS,
  };
}
