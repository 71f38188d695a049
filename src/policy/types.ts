/**
 * The compiled policy: immutable values the request path uses as they are. Everything
 * that can be checked, normalised or pre-computed is done at compile time
 * (`compilePolicy`), so the core never re-checks a raw string.
 */

import type {JSONWebKeySet, JWTVerifyGetKey} from 'jose';
import type {AccessBoundary} from './access-boundary.ts';
import type {Glob} from './pattern.ts';
import type {AudiencePattern} from './audience.ts';
import type {SubjectMatcher} from './subject.ts';

/**
 * How tvm mints for a service account: `impersonate` (IAM Credentials), `key` (a key
 * in Secret Manager), or `user` (a user's authorized_user credential in Secret Manager,
 * refreshed at Google's token endpoint: the entry names a user, not a service account).
 */
export type MintMethod = 'impersonate' | 'key' | 'user';

/** IAM's ceiling for generateAccessToken without the lifetime-extension constraint. */
export const IAM_DEFAULT_MAX_LIFETIME_SECONDS = 3600;
/** IAM's ceiling for accounts covered by iam.allowServiceAccountCredentialLifetimeExtension. */
export const IAM_EXTENDED_MAX_LIFETIME_SECONDS = 43200;
/** Google's JWT-bearer grant always issues one-hour tokens. */
export const KEY_MINTED_LIFETIME_SECONDS = 3600;
/** Google's ID tokens always live one hour, however they are minted. */
export const ID_TOKEN_LIFETIME_SECONDS = 3600;
/** Delegated tokens come from the JWT-bearer grant too: one hour, however minted. */
export const DELEGATED_LIFETIME_SECONDS = KEY_MINTED_LIFETIME_SECONDS;
/** Google's refresh-token grant always issues one-hour tokens too (RFC 6749 §6). */
export const USER_TOKEN_LIFETIME_SECONDS = 3600;

/** A user's consent, for `mint: user` entries. */
export interface UserCredential {
  /** The Secret Manager version holding the authorized_user JSON. */
  readonly credentialSecret: string;
  /** Full scope URLs (and the OpenID scopes `openid`, `email`, `profile`) the user granted. */
  readonly consentedScopes: ReadonlySet<string>;
}

export interface ServiceAccount {
  /** The alias in the policy (`service_accounts.<alias>`), usable as `audience`. */
  readonly alias: string;
  /** Lower-cased service-account email. */
  readonly email: string;
  readonly mint: MintMethod;
  /** For `mint: key`: the Secret Manager version holding the key JSON. */
  readonly keySecret: string | undefined;
  /** Marked as covered by the org's lifetime-extension constraint. */
  readonly lifetimeExtension: boolean;
  /** The IAM ceiling in force for this account, in seconds. */
  readonly iamMaxLifetimeSeconds: number;
  /** For `mint: user` only (absent otherwise): the user's stored consent. */
  readonly user?: UserCredential;
}

export interface Grant {
  readonly serviceAccount: ServiceAccount;
  /** Full scope URLs (`https://www.googleapis.com/auth/...`). */
  readonly scopes: ReadonlySet<string>;
  /** Used when the request names no scope; full URLs, sorted. Undefined: scope required. */
  readonly defaultScopes: readonly string[] | undefined;
  /** Ceiling and default of `lifetime`, seconds; never above the IAM ceiling. */
  readonly maxLifetimeSeconds: number;
  /** What the grant allows of ID tokens; undefined: none. */
  readonly idToken: IdTokenGrant | undefined;
  /** Domain-wide delegation; undefined: no request may name a subject. */
  readonly delegation?: Delegation;
  /** A Credential Access Boundary forced or allowed; undefined: none may be asked for. */
  readonly accessBoundary?: GrantBoundary;
}

/** A grant's `id_token` block: the audiences allowed, and the email claim. */
export interface IdTokenGrant {
  /** Audiences allowed as written, compared exactly. */
  readonly audiences: ReadonlySet<string>;
  /** Anchored patterns (src/policy/audience.ts). */
  readonly patterns: readonly AudiencePattern[];
  /** The token may carry the account's email (always true for mint: key). */
  readonly includeEmail: boolean;
}

/** Domain-wide delegation allowed by a grant. */
export interface Delegation {
  /** The users it may act for; a request's subject must meet one. */
  readonly subjects: readonly SubjectMatcher[];
  /** Full scope URLs a delegated token may have (not the grant's own `scopes`). */
  readonly scopes: ReadonlySet<string>;
}

/** A grant's Credential Access Boundary. */
export interface GrantBoundary {
  /**
   * `force`: every token of the grant carries a boundary (the grant's, or a narrower
   * one the caller asks for). `allow`: a plain token unless the caller asks for a
   * boundary, which must lie within the grant's.
   */
  readonly mode: 'force' | 'allow';
  /** The widest boundary a token of the grant may carry. */
  readonly boundary: AccessBoundary;
}

export interface ApiKey {
  /** SHA-256 of the key, 32 bytes. */
  readonly sha256: Buffer;
  /** Epoch milliseconds from which the key is refused; undefined: no expiry. */
  readonly expiresAt: number | undefined;
}

/** A compiled CIDR range; `contains` accepts an IPv4, IPv6 or IPv4-mapped IPv6 address. */
export interface SourceRange {
  readonly cidr: string;
  contains(address: string): boolean;
}

/**
 * Signature algorithms a policy may allow (RFC 7518 §3, RFC 8037): asymmetric only.
 * `none` and the HMAC family are never accepted: an HS256 token "signed" with an
 * issuer's public key is the classic key-confusion forgery (RFC 8725 §2.1).
 */
export const ASYMMETRIC_ALGORITHMS = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const);
export type JwsAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
/** Algorithms allowed when a trust names none: what OIDC issuers use in practice. */
export const DEFAULT_ALGORITHMS: readonly JwsAlgorithm[] = Object.freeze([
  'RS256',
  'ES256',
]);

/** Where the keys that verify a JWT come from. */
export type KeySource =
  | {
      /** Pinned in the policy. */
      readonly kind: 'static';
      readonly jwks: JSONWebKeySet;
      readonly getKey: JWTVerifyGetKey;
    }
  | {
      /** Fetched from a JWKS URL named in the policy. */
      readonly kind: 'jwks_uri';
      readonly jwksUri: string;
    }
  | {
      /** Fetched from the `jwks_uri` of the issuer's discovery document. */
      readonly kind: 'discovery';
    };

/** One condition on a claim of a subject token. */
export type ClaimCondition =
  | {
      readonly claim: string;
      readonly kind: 'equals';
      readonly value: string;
    }
  | {
      readonly claim: string;
      readonly kind: 'pattern';
      readonly value: string;
      readonly glob: Glob;
    };

/**
 * An OIDC issuer whose tokens authenticate clients (RFC 8693 token exchange), with
 * everything needed to verify a token of it and to tell which client it is. The
 * token's `iss` selects it; its keys and algorithms verify the token before any
 * client is chosen, so they belong to the issuer, not to a client (compile.ts refuses
 * clients of one issuer that disagree on them).
 */
export interface IssuerTrust {
  /** Compared exactly with the token's `iss`. */
  readonly issuer: string;
  readonly keys: KeySource;
  readonly algorithms: readonly JwsAlgorithm[];
  /**
   * The clients that accept this issuer's tokens, in policy order; never empty. No
   * token can meet two of them (compile.ts refuses a policy where one could).
   */
  readonly clients: readonly IssuerClient[];
}

/** Which tokens of an issuer are a given client. */
export interface IssuerClient {
  readonly client: Client;
  /** The token's `aud` must be exactly one of these. */
  readonly audiences: ReadonlySet<string>;
  /** Every condition must hold; `sub` always has one. */
  readonly conditions: readonly ClaimCondition[];
}

/** A partner's public keys for private_key_jwt client assertions (RFC 7523 §2.2). */
export interface AssertionTrust {
  readonly algorithms: readonly JwsAlgorithm[];
  readonly keys: KeySource & {readonly kind: 'static' | 'jwks_uri'};
}

export interface Client {
  readonly id: string;
  readonly description: string | undefined;
  readonly apiKeys: readonly ApiKey[];
  /** private_key_jwt client authentication; undefined: not allowed. */
  readonly privateKeyJwt: AssertionTrust | undefined;
  /** Empty: any source address. */
  readonly sourceRanges: readonly SourceRange[];
  readonly grants: readonly Grant[];
}

export interface CompiledPolicy {
  readonly version: 1;
  readonly serviceAccounts: ReadonlyMap<string, ServiceAccount>;
  readonly serviceAccountsByEmail: ReadonlyMap<string, ServiceAccount>;
  readonly clients: ReadonlyMap<string, Client>;
  /**
   * Token exchange: the issuers that clients trust (their `oidc` blocks), by exact
   * issuer string. A client without `oidc` appears in none.
   */
  readonly issuers: ReadonlyMap<string, IssuerTrust>;
  /**
   * Clients by the SHA-256 hex of an API key, for callers that present only the key
   * (a bearer on the IAM Credentials route).
   */
  readonly clientsByApiKey: ReadonlyMap<string, Client>;
  /** SHA-256 hex of the policy source, for logs and /healthz. */
  readonly digest: string;
}

/** Expands a short scope name (`bigquery.readonly`) to its URL; full URLs pass through. */
export function expandScope(scope: string): string {
  return /^https:\/\//.test(scope)
    ? scope
    : `https://www.googleapis.com/auth/${scope}`;
}
