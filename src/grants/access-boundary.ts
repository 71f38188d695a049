/**
 * The decision on a token's Credential Access Boundary. A grant with
 * `access_boundary.mode: force` downscopes every token: to the boundary the caller
 * asks for, or to the grant's own. With `mode: allow` a token is plain unless the
 * caller asks for a boundary. Either way an asked boundary must lie within the grant's
 * (src/policy/access-boundary.ts): a caller may narrow, never widen. A grant without
 * `access_boundary` takes no boundary at all.
 */
import {TvmError} from '../errors.ts';
import {
  parseRequestedBoundary,
  widening,
  type AccessBoundary,
} from '../policy/access-boundary.ts';
import type {Grant} from '../policy/types.ts';
import {callerString} from '../text.ts';

/** The boundary a token carries, and whether the caller asked for it. */
export interface BoundaryDecision {
  readonly boundary: AccessBoundary;
  readonly requested: boolean;
}

/**
 * The boundary a token of `grant` carries for a request that sent `asked` (the raw
 * `access_boundary` parameter) or none; undefined: a plain token. Throws TvmError:
 * 400 `invalid_request` for a boundary that cannot be read, 400 `invalid_scope` for
 * one the grant does not allow.
 */
export function decideBoundary(
  grant: Grant,
  asked: string | undefined,
): BoundaryDecision | undefined {
  const allowed = grant.accessBoundary;
  if (asked === undefined) {
    return allowed?.mode === 'force'
      ? {boundary: allowed.boundary, requested: false}
      : undefined;
  }
  const parsed = parseRequestedBoundary(asked);
  if (!parsed.ok) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `access_boundary must be a Credential Access Boundary as JSON: ${parsed.message}`,
    );
  }
  if (!allowed) {
    throw new TvmError(
      'ERR_INVALID_SCOPE',
      'access_boundary is not allowed for this service account',
      {
        detail: `the grant of ${grant.serviceAccount.alias} has no access_boundary; ${askedFor(parsed.value)}`,
      },
    );
  }
  const wider = widening(parsed.value, allowed.boundary);
  if (wider !== undefined) {
    throw new TvmError(
      'ERR_INVALID_SCOPE',
      `access_boundary is wider than this grant allows: ${wider}`,
      {
        detail: `boundary beyond the grant of ${grant.serviceAccount.alias}; ${askedFor(parsed.value)}`,
      },
    );
  }
  return {boundary: parsed.value, requested: true};
}

/** What a refused boundary asked for, for the audit line (as vend.ts records a granted one). */
function askedFor(b: AccessBoundary): string {
  const resources = [...new Set(b.rules.map(r => r.resource))]
    .map(r => callerString(r))
    .join(', ');
  return `asked sha256 ${b.sha256.slice(0, 16)} for ${resources}`;
}
