/**
 * `mint: user` entries: a user's consent held in Secret Manager, compiled, and the rules
 * a grant of such an entry must meet. A user's access token comes from Google's
 * refresh-token grant (RFC 6749 §6), which asks for a subset of what the user consented
 * to and always issues one-hour tokens; so a grant may only name consented scopes and
 * must have `max_lifetime: 1h`, and has no ID tokens or delegation (a service
 * account's). All are refused at load, with their paths, rather than failing (or
 * silently doing less) at request time. An `access_boundary` applies as to any token.
 */
import type {Issues} from './issues.ts';
import type {RawGrant, RawUserAccount} from './schema.ts';
import {FrozenSet} from './frozen.ts';
import {
  USER_TOKEN_LIFETIME_SECONDS,
  type ServiceAccount,
  type UserCredential,
} from './types.ts';

/** The compiled entry of a user: a `ServiceAccount` of `mint: user`. */
export function compileUserAccount(
  alias: string,
  raw: RawUserAccount,
  issues: Issues,
): ServiceAccount {
  const seen = new Map<string, number>();
  for (const [i, s] of raw.consented_scopes.entries()) {
    const first = seen.get(s);
    if (first !== undefined) {
      issues.add(['consented_scopes', i], `duplicate of [${first}] (${s})`);
    } else {
      seen.set(s, i);
    }
  }
  const user: UserCredential = Object.freeze({
    credentialSecret: raw.credential_secret,
    consentedScopes: new FrozenSet(seen.keys()),
  });
  return Object.freeze({
    alias,
    email: raw.email,
    mint: 'user' as const,
    keySecret: undefined,
    lifetimeExtension: false,
    iamMaxLifetimeSeconds: USER_TOKEN_LIFETIME_SECONDS,
    user,
  });
}

/**
 * A grant of a user entry: every scope (and so every default scope) consented, and the
 * one lifetime Google issues. `issues` is at the grant (`clients.<id>.allow[<i>]`).
 */
export function checkUserGrant(
  raw: RawGrant,
  sa: ServiceAccount,
  maxLifetime: number,
  issues: Issues,
): void {
  const consented = sa.user!.consentedScopes;
  // Only a user's access tokens are vended: Google's ID tokens and domain-wide
  // delegation are a service account's.
  if (raw.id_token !== undefined) {
    issues.add(
      ['id_token'],
      `not for a user (mint: user): tvm vends only ${sa.alias}'s access tokens`,
    );
  }
  if (raw.delegation !== undefined) {
    issues.add(
      ['delegation'],
      'not for a user (mint: user): domain-wide delegation is for service accounts',
    );
  }
  for (const [i, s] of (raw.scopes ?? []).entries()) {
    if (!consented.has(s)) {
      issues.add(
        ['scopes', i],
        `${s} is not in service_accounts.${sa.alias}.consented_scopes: the user did not consent to it, so Google would refuse to refresh for it`,
      );
    }
  }
  if (maxLifetime !== USER_TOKEN_LIFETIME_SECONDS) {
    issues.add(
      ['max_lifetime'],
      `${sa.alias} is a user (mint: user): Google's refresh-token grant always issues 1h tokens, so max_lifetime must be 1h (got ${maxLifetime}s)`,
    );
  }
}
