/**
 * Downscoped tokens: the token a decision allows (plain or delegated, minted or from
 * the cache) exchanged at Google's STS for one that carries the decision's Credential
 * Access Boundary.
 *
 * Downscoped tokens are cached like every other token, keyed by the source token's
 * key and the boundary's SHA-256 (a normalised boundary: two requests for the same
 * rules share one token). A downscoped token lives no longer than the token it came
 * from, and the cache hands it out under the same rule (at most the lifetime asked
 * for, at least the useful remainder), so no cached token is ever handed out past
 * the point where its source would have been refreshed.
 */
import type {Clock, MonotonicClock} from '../clock.ts';
import {downscopeToken} from '../google/sts.ts';
import type {AccessBoundary} from '../policy/access-boundary.ts';
import {retried, throughCache} from './through-cache.ts';
import type {CachedToken, TokenCache} from './token-cache.ts';

export interface DownscopeMintRequest {
  /** The source token's cache key: what it is for (account, scopes, subject). */
  readonly sourceKey: string;
  /** The lifetime the caller is entitled to (the cache's rule). */
  readonly lifetimeSeconds: number;
  readonly boundary: AccessBoundary;
  /** Monotonic ms by which minting must be over. */
  readonly deadline: number;
  /** The source token: from the cache at once, or a promise of one. */
  source(): CachedToken | Promise<CachedToken>;
}

/** Downscopes (or reuses) tokens. */
export interface Downscoper {
  /** A usable cached downscoped token at once; else a promise of one. */
  downscope(req: DownscopeMintRequest): CachedToken | Promise<CachedToken>;
}

export interface DownscoperDeps {
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  /** STS, `https://sts.googleapis.com` or the configured TVM_STS_ENDPOINT. */
  readonly stsEndpoint: string;
  readonly tokenCache: TokenCache;
}

/** Creates the downscoper. */
export function createDownscoper(deps: DownscoperDeps): Downscoper {
  const {clock, monotonic} = deps;
  const now = () => monotonic.now();
  return {
    downscope(req) {
      return throughCache(
        deps.tokenCache,
        now,
        {
          key: JSON.stringify([
            'downscoped',
            req.sourceKey,
            req.boundary.sha256,
          ]),
          lifetimeSeconds: req.lifetimeSeconds,
          deadline: req.deadline,
          what: 'downscope',
        },
        async () => {
          const source = await req.source();
          return retried(req.deadline, 'STS', now, timeoutMs =>
            downscopeToken(deps.stsEndpoint, clock, {
              token: source,
              boundaryJson: req.boundary.json,
              timeoutMs,
            }),
          );
        },
      );
    },
  };
}
