/**
 * The policy decision: default deny. A request is allowed only when one grant of the
 * authenticated client covers the service account, every requested scope and the
 * lifetime (and, when it names them, the delegation subject and the access boundary).
 * Errors tell the caller what to fix in its own request, never anything about other
 * clients or whether an account exists elsewhere in the policy.
 */
import {TvmError} from '../errors.ts';
import {asciiLower} from '../text.ts';
import {decideBoundary, type BoundaryDecision} from './access-boundary.ts';
import {authorizeSubject, type DelegatedAccess} from './delegation.ts';
import {
  KEY_MINTED_LIFETIME_SECONDS,
  expandScope,
  type Client,
  type CompiledPolicy,
  type Grant,
  type ServiceAccount,
} from '../policy/types.ts';

/** What the caller asked for, as parsed from the request. */
export interface AccessRequest {
  /** A service-account alias or email. */
  readonly audience: string;
  /** Space-separated scope list as sent, or undefined when absent. */
  readonly scope: string | undefined;
  /** Requested lifetime in seconds, or undefined when absent. */
  readonly lifetimeSeconds: number | undefined;
  /** Domain-wide delegation: the user to act for, as sent. */
  readonly subject?: string;
  /** A Credential Access Boundary as JSON, as sent (src/grants/access-boundary.ts). */
  readonly accessBoundary?: string;
}

export interface Decision {
  readonly grant: Grant;
  readonly serviceAccount: ServiceAccount;
  /** Full scope URLs, sorted, without duplicates. */
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  /** Domain-wide delegation: the user the token acts for (lower-cased), and why. */
  readonly delegation?: DelegatedAccess;
  /** The Credential Access Boundary the token carries. */
  readonly boundary?: BoundaryDecision;
}

/** Shortest lifetime tvm mints, as the policy's own lower bound. */
export const MIN_LIFETIME_SECONDS = 60;

/** Decides `req` for `client` under `policy`; throws TvmError on refusal. */
export function authorize(
  policy: CompiledPolicy,
  client: Client,
  req: AccessRequest,
): Decision {
  const grant = findGrant(policy, client, req.audience);
  if (
    req.subject === undefined &&
    req.accessBoundary === undefined &&
    grant.accessBoundary === undefined
  ) {
    const scopes = grantedScopes(grant, req.scope);
    const lifetimeSeconds = grantedLifetime(grant, req.lifetimeSeconds);
    return {
      grant,
      serviceAccount: grant.serviceAccount,
      scopes,
      lifetimeSeconds,
    };
  }
  // Delegation and downscoping (src/grants/delegation.ts, access-boundary.ts).
  const delegation =
    req.subject === undefined
      ? undefined
      : authorizeSubject(grant, req.subject, req.scope, req.lifetimeSeconds);
  const scopes = delegation?.scopes ?? grantedScopes(grant, req.scope);
  const lifetimeSeconds =
    delegation?.lifetimeSeconds ?? grantedLifetime(grant, req.lifetimeSeconds);
  const boundary = decideBoundary(grant, req.accessBoundary);
  return {
    grant,
    serviceAccount: grant.serviceAccount,
    scopes,
    lifetimeSeconds,
    ...(delegation ? {delegation} : {}),
    ...(boundary ? {boundary} : {}),
  };
}

/**
 * The grant of `client` for the account `audience` names (alias or email). Throws
 * ERR_INVALID_TARGET when there is none.
 */
export function findGrant(
  policy: CompiledPolicy,
  client: Client,
  audience: string,
): Grant {
  const sa =
    policy.serviceAccounts.get(audience) ??
    policy.serviceAccountsByEmail.get(asciiLower(audience));
  const grant = sa && client.grants.find(g => g.serviceAccount === sa);
  if (!grant) {
    throw new TvmError(
      'ERR_INVALID_TARGET',
      'this client is not granted the requested service account',
      {
        detail: sa
          ? `no grant for ${sa.alias}`
          : 'audience names no service account in the policy',
      },
    );
  }
  return grant;
}

function grantedScopes(
  grant: Grant,
  scope: string | undefined,
): readonly string[] {
  if (grant.scopes.size === 0) {
    throw new TvmError(
      'ERR_INVALID_SCOPE',
      'no scope is granted for this service account: this client may have only ID tokens for it',
      {
        detail: `the grant of ${grant.serviceAccount.alias} is for ID tokens only`,
      },
    );
  }
  if (scope === undefined) {
    if (grant.defaultScopes) return grant.defaultScopes;
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'scope is required for this service account',
    );
  }
  const asked = scope.split(' ').filter(s => s !== '');
  if (asked.length === 0 || asked.length > 32) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'scope must list 1 to 32 space-separated scopes',
    );
  }
  const scopes = [...new Set(asked.map(expandScope))].sort();
  const missing = scopes.filter(s => !grant.scopes.has(s));
  if (missing.length > 0) {
    throw new TvmError(
      'ERR_INVALID_SCOPE',
      `scope not granted for this service account: ${missing.map(s => s.slice(0, 200)).join(' ')}`,
      {detail: `scopes beyond the grant: ${missing.length}`},
    );
  }
  return scopes;
}

function grantedLifetime(grant: Grant, asked: number | undefined): number {
  const max = grant.maxLifetimeSeconds;
  if (asked === undefined) return max;
  if (asked < MIN_LIFETIME_SECONDS || asked > max) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `lifetime must be between ${MIN_LIFETIME_SECONDS} and ${max} seconds for this grant`,
    );
  }
  if (
    grant.serviceAccount.mint !== 'impersonate' &&
    asked < KEY_MINTED_LIFETIME_SECONDS
  ) {
    // Google's JWT-bearer and refresh-token grants always issue one-hour tokens;
    // handing out a longer-lived token than asked would be a silent widening.
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `tokens for this service account live ${KEY_MINTED_LIFETIME_SECONDS} seconds; lifetime must be at least that`,
    );
  }
  return asked;
}
