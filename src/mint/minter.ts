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
  KEY_MINTED_LIFETIME_SECONDS,
  type ServiceAccount,
} from '../policy/types.ts';
import type {Logger} from '../log.ts';
import {createKeyCache, type KeyCache} from './key-cache.ts';
import {
  capped,
  retried,
  throughCache,
  type MintRequest,
  type Minter,
} from './through-cache.ts';
import type {TokenCache} from './token-cache.ts';
import {createUserMinter} from './user.ts';

export type {MintRequest, Minter} from './through-cache.ts';

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
      return retried(req.deadline, 'IAM Credentials', now, async timeoutMs =>
        generateAccessToken(
          await deps.identity(),
          deps.iamCredentialsEndpoint,
          clock,
          {
            email: sa.email,
            scopes: req.scopes,
            lifetimeSeconds: req.lifetimeSeconds,
            timeoutMs,
          },
        ),
      );
    }
    return retried(
      req.deadline,
      'OAuth 2.0 token endpoint',
      now,
      async timeoutMs => {
        const key = await keys.get(sa, req.deadline);
        return jwtBearerToken(
          key,
          req.scopes,
          deps.oauth2TokenUrl,
          clock,
          timeoutMs,
        );
      },
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
      return throughCache(
        cache,
        now,
        {
          key: cacheKey(req.serviceAccount, req.scopes, lifetime),
          lifetimeSeconds: lifetime,
          deadline: req.deadline,
        },
        () => capped(clock, lifetime, () => issue(req)),
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
