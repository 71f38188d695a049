/**
 * Minting ID tokens, the sibling of the access-token path in minter.ts: keylessly
 * through IAM Credentials' generateIdToken, or with the account's key at the token
 * endpoint (JWT-bearer with `target_audience`), through the same token cache and
 * under the same invariant (src/mint/token-cache.ts). Google's ID tokens always live
 * an hour; they are cached per (account, audience, email claim).
 */
import type {AuthClient} from 'google-auth-library';
import type {Clock, MonotonicClock} from '../clock.ts';
import type {IssuedToken} from '../google/iam-credentials.ts';
import {generateIdToken, jwtBearerIdToken} from '../google/id-token.ts';
import {
  ID_TOKEN_LIFETIME_SECONDS,
  type ServiceAccount,
} from '../policy/types.ts';
import type {KeyCache} from './key-cache.ts';
import {capped, retried, throughCache} from './through-cache.ts';
import type {CachedToken, TokenCache} from './token-cache.ts';

export interface IdTokenMintRequest {
  readonly serviceAccount: ServiceAccount;
  /** The token's `aud`, as the policy allowed it. */
  readonly audience: string;
  /** The token carries the email (`email`, `azp`); key-minted tokens always do. */
  readonly includeEmail: boolean;
  /** Monotonic ms by which minting must be over. */
  readonly deadline: number;
}

/** Mints (or reuses) ID tokens. */
export interface IdTokenMinter {
  /** A usable cached token at once; else a promise of one minted (or in flight). */
  mint(req: IdTokenMintRequest): CachedToken | Promise<CachedToken>;
}

export interface IdTokenMinterDeps {
  /** The function's own identity, resolved on first use. */
  readonly identity: () => Promise<AuthClient>;
  /** The keys of `mint: key` accounts (shared with the access-token minter). */
  readonly keys: KeyCache;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  readonly iamCredentialsEndpoint: string;
  readonly oauth2TokenUrl: string;
  /** The token cache access tokens use too: keys never collide (see `idTokenCacheKey`). */
  readonly tokenCache: TokenCache;
}

/** Creates the minter of ID tokens. */
export function createIdTokenMinter(deps: IdTokenMinterDeps): IdTokenMinter {
  const {clock, monotonic, keys, tokenCache: cache} = deps;
  const now = () => monotonic.now();
  const lifetime = ID_TOKEN_LIFETIME_SECONDS;

  const issue = (req: IdTokenMintRequest): Promise<IssuedToken> => {
    const sa = req.serviceAccount;
    if (sa.mint === 'impersonate') {
      return retried(req.deadline, 'IAM Credentials', now, async timeoutMs =>
        generateIdToken(
          await deps.identity(),
          deps.iamCredentialsEndpoint,
          clock,
          {
            email: sa.email,
            audience: req.audience,
            includeEmail: req.includeEmail,
            timeoutMs,
          },
        ),
      );
    }
    return retried(
      req.deadline,
      'OAuth 2.0 token endpoint',
      now,
      async timeoutMs =>
        jwtBearerIdToken(
          await keys.get(sa, req.deadline),
          req.audience,
          deps.oauth2TokenUrl,
          clock,
          timeoutMs,
        ),
    );
  };

  return {
    mint(req) {
      // As for access tokens: never report (or cache) more than Google's hour from
      // when it was asked, whatever the token's own clock says.
      return throughCache(
        cache,
        now,
        {
          key: idTokenCacheKey(req),
          lifetimeSeconds: lifetime,
          deadline: req.deadline,
        },
        () => capped(clock, lifetime, () => issue(req)),
      );
    },
  };
}

/**
 * (account, audience, email claim) as one opaque string, marked as an ID token so it
 * never equals an access token's key (src/mint/minter.ts) in the shared cache.
 */
export function idTokenCacheKey(req: IdTokenMintRequest): string {
  const sa = req.serviceAccount;
  return JSON.stringify([
    'id_token',
    sa.mint,
    sa.email,
    sa.keySecret ?? '',
    req.audience,
    sa.mint === 'key' || req.includeEmail,
  ]);
}
