/**
 * Minting: turns an authorised decision into a Google access token, keylessly through
 * the IAM Credentials API or with a key held in Secret Manager, through the token
 * cache. Every upstream call runs inside the caller's deadline.
 */
import type {AuthClient} from 'google-auth-library';
import type {Clock, MonotonicClock} from '../clock.ts';
import {
  generateAccessToken,
  type IssuedToken,
} from '../google/iam-credentials.ts';
import {jwtBearerToken} from '../google/oauth2.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {
  ATTEMPT_TIMEOUT_MS,
  UpstreamError,
  unavailable,
  withRetry,
  within,
} from '../google/upstream.ts';
import {
  KEY_MINTED_LIFETIME_SECONDS,
  type ServiceAccount,
} from '../policy/types.ts';
import type {Logger} from '../log.ts';
import {createKeyCache, type KeyCache} from './key-cache.ts';
import type {CachedToken, TokenCache} from './token-cache.ts';
import {createUserMinter} from './user.ts';

export interface MintRequest {
  readonly serviceAccount: ServiceAccount;
  /** Full scope URLs, sorted and de-duplicated. */
  readonly scopes: readonly string[];
  /** The lifetime the caller is entitled to and asked for. */
  readonly lifetimeSeconds: number;
  /** Monotonic ms (on the minter's `monotonic` clock) by which minting must be over. */
  readonly deadline: number;
}

/** Mints (or reuses) tokens. */
export interface Minter {
  /** A usable cached token at once; else a promise of one minted (or in flight). */
  mint(req: MintRequest): CachedToken | Promise<CachedToken>;
}

export interface MinterDeps {
  /** The function's own identity, resolved on first use. */
  readonly identity: () => Promise<AuthClient>;
  readonly secrets: SecretReader;
  readonly clock: Clock;
  /** Deadlines and upstream timeouts. */
  readonly monotonic: MonotonicClock;
  readonly iamCredentialsEndpoint: string;
  readonly oauth2TokenUrl: string;
  readonly tokenCache: TokenCache;
  /** How long a key read from Secret Manager is reused before it is read again. */
  readonly keyTtlSeconds?: number;
  /** A key that cannot be re-read keeps serving at most this long after it was read. */
  readonly keyMaxStaleSeconds?: number;
  /** The key cache, when shared with another minter (src/mint/id-token.ts). */
  readonly keys?: KeyCache;
  /** Operator lines of minting (a user credential Google refused). */
  readonly logger?: Logger;
  /** How long a user credential Google refused is not offered again (src/mint/user.ts). */
  readonly userRefusalPauseSeconds?: number;
}

/** Creates the Minter used by the token endpoint. */
export function createMinter(deps: MinterDeps): Minter {
  const {clock, monotonic} = deps;
  const cache = deps.tokenCache;
  const keys =
    deps.keys ??
    createKeyCache({
      secrets: deps.secrets,
      clock,
      monotonic,
      ttlSeconds: deps.keyTtlSeconds,
      maxStaleSeconds: deps.keyMaxStaleSeconds,
    });
  const now = () => monotonic.now();
  // `mint: user` entries: a minter of their own (src/mint/user.ts).
  const users = createUserMinter({
    secrets: deps.secrets,
    clock,
    monotonic,
    oauth2TokenUrl: deps.oauth2TokenUrl,
    tokenCache: cache,
    logger: deps.logger,
    credentialTtlSeconds: deps.keyTtlSeconds,
    credentialMaxStaleSeconds: deps.keyMaxStaleSeconds,
    refusalPauseSeconds: deps.userRefusalPauseSeconds,
  });

  const issue = (req: MintRequest): Promise<IssuedToken> => {
    const sa = req.serviceAccount;
    if (sa.mint === 'impersonate') {
      return withRetry(
        async left =>
          generateAccessToken(
            await deps.identity(),
            deps.iamCredentialsEndpoint,
            clock,
            {
              email: sa.email,
              scopes: req.scopes,
              lifetimeSeconds: req.lifetimeSeconds,
              timeoutMs: Math.min(left, ATTEMPT_TIMEOUT_MS),
            },
          ),
        {deadline: req.deadline, what: 'IAM Credentials', now},
      );
    }
    return withRetry(
      async left => {
        const key = await keys.get(sa, req.deadline);
        return jwtBearerToken(
          key,
          req.scopes,
          deps.oauth2TokenUrl,
          clock,
          Math.min(left, ATTEMPT_TIMEOUT_MS),
        );
      },
      {deadline: req.deadline, what: 'OAuth 2.0 token endpoint', now},
    );
  };

  return {
    mint(req) {
      if (req.serviceAccount.mint === 'user') return users.mint(req);
      // Key-minted tokens always live an hour, whatever was asked.
      const lifetime =
        req.serviceAccount.mint === 'key'
          ? KEY_MINTED_LIFETIME_SECONDS
          : req.lifetimeSeconds;
      const key = cacheKey(req.serviceAccount, req.scopes, lifetime);
      // The hot path: a usable cached token, handed out without a timer or a promise race.
      const cached = cache.peek(key, lifetime);
      if (cached) return cached;
      const minted = cache.get(key, lifetime, async () => {
        const asked = clock.now();
        const t = await issue(req);
        // Google stamps the expiry with its own clock; never report (or cache) more
        // than the lifetime asked for, so skew cannot stretch a token past the grant.
        return {
          ...t,
          expiresAt: Math.min(t.expiresAt, asked + lifetime * 1000),
        };
      });
      // A caller that joined a mint already in flight waits no longer than its own
      // deadline either.
      return within(minted, req.deadline - now(), 'mint').catch(
        (e: unknown) => {
          throw e instanceof UpstreamError ? unavailable(e) : e;
        },
      );
    },
  };
}

/** (service account, scopes, lifetime class) as one opaque string. */
function cacheKey(
  sa: ServiceAccount,
  scopes: readonly string[],
  lifetime: number,
): string {
  return JSON.stringify([
    sa.mint,
    sa.email,
    sa.keySecret ?? '',
    lifetime,
    scopes,
  ]);
}
