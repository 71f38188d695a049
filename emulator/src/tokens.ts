/**
 * Tokens the emulator issues: opaque `ya29.` access tokens remembered with their
 * principal, scopes and true expiry; and RS256 ID tokens signed by the emulator's
 * Google key (verifiable through the JWKS at /oauth2/v3/certs).
 */
import {randomBytes} from 'node:crypto';
import {signJwt, type SigningKey} from './keys.ts';

/** What the emulator remembers about an access token it issued. */
export interface AccessTokenRecord extends TokenAttributes {
  /** The principal the token acts as: a service account, or a delegated user. */
  readonly email: string;
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** What a token carries beyond its principal and scopes. */
export interface TokenAttributes {
  /** The OAuth client the token was issued to (tokeninfo's `azp`/`aud`), when not the principal's own. */
  readonly clientId?: string;
  /** Domain-wide delegation: the service account acting for the user `email`. */
  readonly delegatedBy?: string;
  /** A downscoped token: its Credential Access Boundary (the JSON STS was sent). */
  readonly accessBoundary?: unknown;
}

/** Google's ID token issuer. */
export const GOOGLE_ISSUER = 'https://accounts.google.com';

/** Tokens are pruned of expired entries once the store grows past this. */
const PRUNE_THRESHOLD = 10_000;

/** The access tokens one emulator instance has issued. */
export class TokenStore {
  readonly #tokens = new Map<string, AccessTokenRecord>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * Issues a random access token for `email` valid for `lifetime` ms from now, or until
   * `lifetime.expiresAt`. A negative lifetime yields a token that is already expired
   * (the `expiredToken` fault).
   */
  issue(
    email: string,
    scopes: readonly string[],
    lifetime: number | {readonly expiresAt: number},
    attributes: TokenAttributes = {},
  ): {token: string; record: AccessTokenRecord} {
    if (this.#tokens.size > PRUNE_THRESHOLD) this.#prune();
    const token = `ya29.${randomBytes(48).toString('base64url')}`;
    const issuedAt = this.#now();
    const record = {
      ...attributes,
      email,
      scopes: Object.freeze([...scopes]),
      issuedAt,
      // Milliseconds from now, or an instant (a token that ends with another one).
      expiresAt:
        typeof lifetime === 'number' ? issuedAt + lifetime : lifetime.expiresAt,
    };
    this.#tokens.set(token, Object.freeze(record));
    return {token, record};
  }

  /** The record of a token this emulator issued (expired or not), else undefined. */
  get(token: string): AccessTokenRecord | undefined {
    return this.#tokens.get(token);
  }

  /** The record of a token this emulator issued that has not yet expired. */
  getValid(token: string): AccessTokenRecord | undefined {
    const record = this.#tokens.get(token);
    return record !== undefined && record.expiresAt > this.#now()
      ? record
      : undefined;
  }

  #prune(): void {
    const now = this.#now();
    for (const [token, record] of this.#tokens) {
      if (record.expiresAt <= now) this.#tokens.delete(token);
    }
  }
}

/** Who an ID token is about. */
export interface IdTokenSubject {
  readonly email: string;
  readonly uniqueId: string;
}

/**
 * Signs a Google-style ID token: iss accounts.google.com, aud, azp, sub = unique id,
 * and (when asked) email + email_verified; one hour, or already expired when
 * `lifetimeSeconds` is negative.
 */
export function issueIdToken(
  key: SigningKey,
  subject: IdTokenSubject,
  audience: string,
  options: {
    nowMs: number;
    includeEmail: boolean;
    azpEmail?: boolean;
    lifetimeSeconds?: number;
  },
): Promise<string> {
  const iat = Math.floor(options.nowMs / 1000);
  const lifetime = options.lifetimeSeconds ?? 3600;
  const claims: Record<string, unknown> = {
    aud: audience,
    azp: options.azpEmail ? subject.email : subject.uniqueId,
    iss: GOOGLE_ISSUER,
    sub: subject.uniqueId,
    iat: lifetime < 0 ? iat + lifetime - 3600 : iat,
    exp: iat + lifetime,
  };
  if (options.includeEmail) {
    claims.email = subject.email;
    claims.email_verified = true;
  }
  return signJwt(claims, key);
}
