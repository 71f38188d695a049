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
import {DELEGATED_LIFETIME_SECONDS} from '../policy/types.ts';
import type {KeyCache} from './key-cache.ts';
import {
  capped,
  retried,
  throughCache,
  type MintRequest,
} from './through-cache.ts';
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
      return retried(
        req.deadline,
        'OAuth 2.0 token endpoint',
        now,
        async timeoutMs =>
          keyDelegatedToken(
            await keys.get(sa, req.deadline),
            {...ask, timeoutMs},
            deps.oauth2TokenUrl,
            clock,
          ),
      );
    }
    // The signed assertion is good for an hour: a failed exchange is retried with it.
    const assertion = await retried(
      req.deadline,
      'IAM Credentials signJwt',
      now,
      async timeoutMs =>
        signDelegationAssertion(
          await deps.identity(),
          deps.iamCredentialsEndpoint,
          clock,
          {...ask, timeoutMs},
        ),
    );
    return retried(req.deadline, 'OAuth 2.0 token endpoint', now, timeoutMs =>
      exchangeAssertion(assertion, deps.oauth2TokenUrl, clock, timeoutMs),
    );
  };

  return {
    mint(req) {
      const lifetime = DELEGATED_LIFETIME_SECONDS;
      // Never report (or cache) more than the hour asked for, whatever the skew.
      return throughCache(
        deps.tokenCache,
        now,
        {
          key: delegatedCacheKey(req),
          lifetimeSeconds: lifetime,
          deadline: req.deadline,
        },
        () => capped(clock, lifetime, () => issue(req)),
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
