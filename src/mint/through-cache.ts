/**
 * What every minter shares: the token cache's fast path (a usable cached token handed
 * out at once, with no promise and no timer), one mint in flight per key, a caller
 * that joined a mint waiting no longer than its own deadline, each upstream attempt
 * bounded, and a token's reported expiry capped at the lifetime asked for.
 */
import type {Clock} from '../clock.ts';
import type {IssuedToken} from '../google/iam-credentials.ts';
import {
  ATTEMPT_TIMEOUT_MS,
  UpstreamError,
  unavailable,
  withRetry,
  within,
} from '../google/upstream.ts';
import type {ServiceAccount} from '../policy/types.ts';
import type {CachedToken, TokenCache} from './token-cache.ts';

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

/** Where a token is looked up and for how long it must serve. */
export interface CacheSlot {
  readonly key: string;
  readonly lifetimeSeconds: number;
  /** Monotonic ms by which the caller must have its token. */
  readonly deadline: number;
  /** Names the step when the deadline passes (default `mint`). */
  readonly what?: string;
}

/**
 * The token of `slot`: at once when the cache holds a usable one; else `issue()` (or
 * the mint already in flight for the key), awaited until the deadline. `beforeMint`
 * may refuse (throw) once the cache has no token. An UpstreamError becomes a 503.
 */
export function throughCache(
  cache: TokenCache,
  now: () => number,
  slot: CacheSlot,
  issue: () => Promise<IssuedToken>,
  beforeMint?: () => void,
): CachedToken | Promise<CachedToken> {
  // The hot path: a usable cached token, handed out without a timer or a promise race.
  const cached = cache.peek(slot.key, slot.lifetimeSeconds);
  if (cached) return cached;
  beforeMint?.();
  const minted = cache.get(slot.key, slot.lifetimeSeconds, issue);
  // A caller that joined a mint already in flight waits no longer than its own
  // deadline either.
  return within(minted, slot.deadline - now(), slot.what ?? 'mint').catch(
    (e: unknown) => {
      throw e instanceof UpstreamError ? unavailable(e) : e;
    },
  );
}

/**
 * `issue()`'s token, its expiry no later than `lifetimeSeconds` after it was asked:
 * Google stamps the expiry with its own clock; never report (or cache) more than the
 * lifetime asked for, so skew cannot stretch a token past the grant.
 */
export async function capped(
  clock: Clock,
  lifetimeSeconds: number,
  issue: () => Promise<IssuedToken>,
): Promise<IssuedToken> {
  const asked = clock.now();
  const t = await issue();
  return {
    ...t,
    expiresAt: Math.min(t.expiresAt, asked + lifetimeSeconds * 1000),
  };
}

/**
 * `attempt` retried until `deadline` (`withRetry`), each try given the time left but
 * no more than ATTEMPT_TIMEOUT_MS. `what` names the upstream.
 */
export function retried<T>(
  deadline: number,
  what: string,
  now: () => number,
  attempt: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  return withRetry(left => attempt(Math.min(left, ATTEMPT_TIMEOUT_MS)), {
    deadline,
    what,
    now,
  });
}
