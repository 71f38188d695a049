/**
 * Minting delegated tokens (domain-wide delegation): a token for a service account
 * acting as a Workspace user, through the same token cache as every other token, keyed
 * by the user too. Keyless accounts sign the assertion with IAM Credentials `signJwt`
 * and exchange it at Google's token endpoint; key-minted accounts sign it with their
 * key. Either way Google's token lives one hour. Every upstream call runs inside the
 * caller's deadline.
 */
import type {AuthClient} from 'google-auth-library';
import type {Clock, MonotonicClock} from '../clock.ts';
import {
  exchangeAssertion,
  keyDelegatedToken,
  signDelegationAssertion,
} from '../google/delegation.ts';
import type {IssuedToken} from '../google/iam-credentials.ts';
import {
  ATTEMPT_TIMEOUT_MS,
  UpstreamError,
  unavailable,
  withRetry,
  within,
} from '../google/upstream.ts';
import {DELEGATED_LIFETIME_SECONDS} from '../policy/types.ts';
import type {KeyCache} from './key-cache.ts';
import type {MintRequest} from './minter.ts';
import type {CachedToken, TokenCache} from './token-cache.ts';

/** A mint for `subject` (lower-cased); the lifetime is always one hour. */
export interface DelegatedMintRequest extends MintRequest {
  readonly subject: string;
}

/** Mints (or reuses) delegated tokens. */
export interface DelegatedMinter {
  /** A usable cached token at once; else a promise of one minted (or in flight). */
  mint(req: DelegatedMintRequest): CachedToken | Promise<CachedToken>;
}

export interface DelegatedMinterDeps {
  /** The function's own identity, resolved on first use. */
  readonly identity: () => Promise<AuthClient>;
  readonly keys: KeyCache;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  readonly iamCredentialsEndpoint: string;
  readonly oauth2TokenUrl: string;
  readonly tokenCache: TokenCache;
}

/** Creates the minter of delegated tokens. */
export function createDelegatedMinter(
  deps: DelegatedMinterDeps,
): DelegatedMinter {
  const {clock, monotonic, keys} = deps;
  const now = () => monotonic.now();

  const issue = async (req: DelegatedMintRequest): Promise<IssuedToken> => {
    const sa = req.serviceAccount;
    const ask = {
      email: sa.email,
      subject: req.subject,
      scopes: req.scopes,
    };
    if (sa.mint === 'key') {
      return withRetry(
        async left =>
          keyDelegatedToken(
            await keys.get(sa, req.deadline),
            {...ask, timeoutMs: Math.min(left, ATTEMPT_TIMEOUT_MS)},
            deps.oauth2TokenUrl,
            clock,
          ),
        {deadline: req.deadline, what: 'OAuth 2.0 token endpoint', now},
      );
    }
    // The signed assertion is good for an hour: a failed exchange is retried with it.
    const assertion = await withRetry(
      async left =>
        signDelegationAssertion(
          await deps.identity(),
          deps.iamCredentialsEndpoint,
          clock,
          {...ask, timeoutMs: Math.min(left, ATTEMPT_TIMEOUT_MS)},
        ),
      {deadline: req.deadline, what: 'IAM Credentials signJwt', now},
    );
    return withRetry(
      left =>
        exchangeAssertion(
          assertion,
          deps.oauth2TokenUrl,
          clock,
          Math.min(left, ATTEMPT_TIMEOUT_MS),
        ),
      {deadline: req.deadline, what: 'OAuth 2.0 token endpoint', now},
    );
  };

  return {
    mint(req) {
      const lifetime = DELEGATED_LIFETIME_SECONDS;
      const key = delegatedCacheKey(req);
      const cached = deps.tokenCache.peek(key, lifetime);
      if (cached) return cached;
      const minted = deps.tokenCache.get(key, lifetime, async () => {
        const asked = clock.now();
        const t = await issue(req);
        // Never report (or cache) more than the hour asked for, whatever the skew.
        return {
          ...t,
          expiresAt: Math.min(t.expiresAt, asked + lifetime * 1000),
        };
      });
      return within(minted, req.deadline - now(), 'mint').catch(
        (e: unknown) => {
          throw e instanceof UpstreamError ? unavailable(e) : e;
        },
      );
    },
  };
}

/**
 * (service account, subject, scopes) as one opaque string, apart from every plain
 * token's key (src/mint/minter.ts): a delegated token is never handed out for the
 * account itself, nor for another user.
 */
export function delegatedCacheKey(req: DelegatedMintRequest): string {
  const sa = req.serviceAccount;
  return JSON.stringify([
    'delegated',
    sa.mint,
    sa.email,
    sa.keySecret ?? '',
    DELEGATED_LIFETIME_SECONDS,
    req.subject,
    req.scopes,
  ]);
}
