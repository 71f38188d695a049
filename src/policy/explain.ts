/**
 * The words for token-exchange decisions: what `tvm policy explain` prints and what
 * the service puts in a subject-token refusal and its audit detail; and the overview
 * of a whole policy that `tvm policy explain FILE` draws. Which client a
 * token is, which refusal it gets and how much of this text the caller may see are
 * decided in src/oidc/subject-token.ts; this module only says it.
 */

import {shown, printable} from '../text.ts';
import type {
  ClaimCondition,
  Client,
  CompiledPolicy,
  IssuerClient,
  IssuerTrust,
  KeySource,
  MintMethod,
} from './types.ts';

/** Names a claim condition for messages: `sub pattern "repo:org/*"`. */
export function describeCondition(c: ClaimCondition): string {
  return `${c.claim} ${c.kind} "${printable(c.value)}"`;
}

/** A claim condition a token did not meet, and the token's value (undefined: absent). */
export interface UnmetCondition {
  readonly condition: ClaimCondition;
  readonly actual: unknown;
}

/**
 * Why a token is not a given client, each failed check with the condition it failed:
 * `aud "x" is not accepted, claim sub "y" does not match (condition: sub pattern "z")`.
 * The condition is the client's own configuration: the caller may see this only when
 * it has authenticated as that client.
 */
export function describeMismatch(
  aud: string,
  audienceAccepted: boolean,
  unmet: readonly UnmetCondition[],
): string {
  const out: string[] = [];
  if (!audienceAccepted) out.push(`aud ${shown(aud)} is not accepted`);
  for (const f of unmet) {
    const what =
      f.actual === undefined
        ? `claim ${f.condition.claim} is missing`
        : `claim ${f.condition.claim} ${shown(f.actual)} does not ${f.condition.kind === 'equals' ? 'equal' : 'match'}`;
    out.push(`${what} (condition: ${describeCondition(f.condition)})`);
  }
  return out.join(', ') || 'no failed condition';
}

/**
 * The whole policy as the service applies it, for `tvm policy explain` without a
 * question: every client, how it authenticates, and which accounts, scopes and
 * lifetimes it may have. Built from the compiled policy, so what the kill switch
 * removed (a disabled client, key or account) is absent and `emergency_max_lifetime`
 * has already cut the lifetimes. JSON-ready, with the policy's own snake_case names;
 * `tvm_policy_overview` numbers the shape. No API key hash appears (a count and
 * expiry dates only), and free text is kept as it is: each renderer escapes it.
 */
export interface PolicyOverview {
  readonly tvm_policy_overview: 1;
  readonly digest: string;
  readonly service_accounts: readonly AccountOverview[];
  readonly clients: readonly ClientOverview[];
}

export interface AccountOverview {
  readonly alias: string;
  readonly email: string;
  readonly mint: MintMethod;
  /** For `mint: key`: the Secret Manager version of its key (a name, not the key). */
  readonly key_secret: string | null;
  /** For `mint: user` only: the Secret Manager version of the user's credential. */
  readonly credential_secret?: string;
  /** For `mint: user` only: the scopes the user consented to. */
  readonly consented_scopes?: readonly string[];
  readonly lifetime_extension: boolean;
  /** The IAM ceiling in force for the account. */
  readonly iam_max_lifetime_seconds: number;
  /** The clients that may have it, in document order; empty for a disabled account. */
  readonly granted_to: readonly string[];
}

export type KeysOverview =
  | {readonly source: 'discovery'}
  | {readonly source: 'jwks_uri'; readonly jwks_uri: string}
  | {readonly source: 'pinned'; readonly keys: number};

export type AuthenticationOverview =
  | {
      readonly method: 'api_key';
      readonly keys: number;
      /** Expiry of each key that has one, ISO 8601, earliest first. */
      readonly expires: readonly string[];
    }
  | {
      readonly method: 'oidc';
      readonly issuer: string;
      readonly audiences: readonly string[];
      readonly claims: readonly {
        readonly claim: string;
        readonly equals?: string;
        readonly pattern?: string;
      }[];
      readonly keys: KeysOverview;
      readonly algorithms: readonly string[];
    }
  | {
      readonly method: 'private_key_jwt';
      readonly keys: KeysOverview;
      readonly algorithms: readonly string[];
    };

export interface GrantOverview {
  readonly service_account: string;
  readonly email: string;
  /** Full scope URLs, sorted. */
  readonly scopes: readonly string[];
  /** Used when a request names none; null: the request must name its scopes. */
  readonly default_scopes: readonly string[] | null;
  readonly max_lifetime_seconds: number;
  /** The grant's ID tokens; null: none. */
  readonly id_token: IdTokenOverview | null;
  /** Domain-wide delegation; null: none. */
  readonly delegation: DelegationOverview | null;
  /** The Credential Access Boundary of its access tokens; null: none. */
  readonly access_boundary: AccessBoundaryOverview | null;
}

/** Whom a grant's tokens may act for (they always live an hour), with which scopes. */
export interface DelegationOverview {
  /** As the policy writes them: addresses, or `*@domain`. */
  readonly subjects: readonly string[];
  /** Full scope URLs, sorted. */
  readonly scopes: readonly string[];
}

/** A grant's Credential Access Boundary, in its normal form. */
export interface AccessBoundaryOverview {
  readonly mode: 'force' | 'allow';
  readonly rules: readonly {
    readonly resource: string;
    readonly permissions: readonly string[];
    /** The CEL expression of its availability condition; null: none. */
    readonly condition: string | null;
  }[];
}

/** What a grant allows of ID tokens (they always live an hour). */
export interface IdTokenOverview {
  /** Exact audiences, then patterns, as the policy writes them. */
  readonly audiences: readonly string[];
  readonly include_email: boolean;
}

export interface ClientOverview {
  readonly id: string;
  readonly description: string | null;
  readonly authentication: readonly AuthenticationOverview[];
  /** Empty: any source address. */
  readonly source_ranges: readonly string[];
  readonly grants: readonly GrantOverview[];
}

/**
 * The overview of `policy`, clients and accounts in document order; with `only`,
 * that one client and the accounts it may have (undefined when there is no such
 * client).
 */
export function policyOverview(
  policy: CompiledPolicy,
  only?: string,
): PolicyOverview | undefined {
  const chosen =
    only === undefined
      ? [...policy.clients.values()]
      : [policy.clients.get(only)].filter(c => c !== undefined);
  if (only !== undefined && chosen.length === 0) return undefined;
  const oidcOf = new Map<Client, [IssuerTrust, IssuerClient]>();
  for (const trust of policy.issuers.values()) {
    for (const ic of trust.clients) oidcOf.set(ic.client, [trust, ic]);
  }
  const clients = chosen.map((c): ClientOverview => {
    const authentication: AuthenticationOverview[] = [];
    if (c.apiKeys.length > 0) {
      authentication.push({
        method: 'api_key',
        keys: c.apiKeys.length,
        expires: c.apiKeys
          .map(k => k.expiresAt)
          .filter(e => e !== undefined)
          .sort((a, b) => a - b)
          .map(e => new Date(e).toISOString()),
      });
    }
    const oidc = oidcOf.get(c);
    if (oidc) {
      const [trust, ic] = oidc;
      authentication.push({
        method: 'oidc',
        issuer: trust.issuer,
        audiences: [...ic.audiences],
        claims: ic.conditions.map(k =>
          k.kind === 'equals'
            ? {claim: k.claim, equals: k.value}
            : {claim: k.claim, pattern: k.value},
        ),
        keys: keysOverview(trust.keys),
        algorithms: [...trust.algorithms],
      });
    }
    if (c.privateKeyJwt) {
      authentication.push({
        method: 'private_key_jwt',
        keys: keysOverview(c.privateKeyJwt.keys),
        algorithms: [...c.privateKeyJwt.algorithms],
      });
    }
    return {
      id: c.id,
      description: c.description ?? null,
      authentication,
      source_ranges: c.sourceRanges.map(r => r.cidr),
      grants: c.grants.map(g => ({
        service_account: g.serviceAccount.alias,
        email: g.serviceAccount.email,
        scopes: [...g.scopes].sort(),
        default_scopes: g.defaultScopes ? [...g.defaultScopes] : null,
        max_lifetime_seconds: g.maxLifetimeSeconds,
        id_token: g.idToken
          ? {
              audiences: [
                ...g.idToken.audiences,
                ...g.idToken.patterns.map(p => p.source),
              ],
              include_email: g.idToken.includeEmail,
            }
          : null,
        delegation: g.delegation
          ? {
              subjects: g.delegation.subjects.map(m => m.source),
              scopes: [...g.delegation.scopes].sort(),
            }
          : null,
        access_boundary: g.accessBoundary
          ? {
              mode: g.accessBoundary.mode,
              rules: g.accessBoundary.boundary.rules.map(r => ({
                resource: r.resource,
                permissions: [...r.permissions],
                condition: r.condition?.expression ?? null,
              })),
            }
          : null,
      })),
    };
  });
  const grantedTo = (alias: string) =>
    clients
      .filter(c => c.grants.some(g => g.service_account === alias))
      .map(c => c.id);
  const accounts = [...policy.serviceAccounts.values()].filter(
    sa => only === undefined || grantedTo(sa.alias).length > 0,
  );
  return {
    tvm_policy_overview: 1,
    digest: policy.digest,
    service_accounts: accounts.map(sa => ({
      alias: sa.alias,
      email: sa.email,
      mint: sa.mint,
      key_secret: sa.keySecret ?? null,
      ...(sa.user
        ? {
            credential_secret: sa.user.credentialSecret,
            consented_scopes: [...sa.user.consentedScopes],
          }
        : {}),
      lifetime_extension: sa.lifetimeExtension,
      iam_max_lifetime_seconds: sa.iamMaxLifetimeSeconds,
      granted_to: grantedTo(sa.alias),
    })),
    clients,
  };
}

function keysOverview(k: KeySource): KeysOverview {
  switch (k.kind) {
    case 'discovery':
      return {source: 'discovery'};
    case 'jwks_uri':
      return {source: 'jwks_uri', jwks_uri: k.jwksUri};
    case 'static':
      return {source: 'pinned', keys: k.jwks.keys.length};
  }
}

/** Seconds as the policy writes a duration: `15m`, `1h`, `1h30m`, `90s`. */
export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const out = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return out || '0s';
}
