/**
 * The compiled policy: immutable values the request path uses as they are. Everything
 * that can be checked, normalised or pre-computed is done at compile time
 * (`compilePolicy`), so the core never re-checks a raw string.
 */

/** How tvm mints for a service account. */
export type MintMethod = 'impersonate' | 'key';

/** IAM's ceiling for generateAccessToken without the lifetime-extension constraint. */
export const IAM_DEFAULT_MAX_LIFETIME_SECONDS = 3600;
/** IAM's ceiling for accounts covered by iam.allowServiceAccountCredentialLifetimeExtension. */
export const IAM_EXTENDED_MAX_LIFETIME_SECONDS = 43200;
/** Google's JWT-bearer grant always issues one-hour tokens. */
export const KEY_MINTED_LIFETIME_SECONDS = 3600;

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
}

export interface Grant {
  readonly serviceAccount: ServiceAccount;
  /** Full scope URLs (`https://www.googleapis.com/auth/...`). */
  readonly scopes: ReadonlySet<string>;
  /** Used when the request names no scope; full URLs, sorted. Undefined: scope required. */
  readonly defaultScopes: readonly string[] | undefined;
  /** Ceiling and default of `lifetime`, seconds; never above the IAM ceiling. */
  readonly maxLifetimeSeconds: number;
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

export interface Client {
  readonly id: string;
  readonly description: string | undefined;
  readonly apiKeys: readonly ApiKey[];
  /** Empty: any source address. */
  readonly sourceRanges: readonly SourceRange[];
  readonly grants: readonly Grant[];
}

export interface CompiledPolicy {
  readonly version: 1;
  readonly serviceAccounts: ReadonlyMap<string, ServiceAccount>;
  readonly serviceAccountsByEmail: ReadonlyMap<string, ServiceAccount>;
  readonly clients: ReadonlyMap<string, Client>;
  /** SHA-256 hex of the policy source, for logs and /healthz. */
  readonly digest: string;
}

/** Expands a short scope name (`bigquery.readonly`) to its URL; full URLs pass through. */
export function expandScope(scope: string): string {
  return /^https:\/\//.test(scope)
    ? scope
    : `https://www.googleapis.com/auth/${scope}`;
}
