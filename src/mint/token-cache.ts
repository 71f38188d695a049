/**
 * Minted tokens, reused while they are still good for the caller, with one mint in
 * flight per key (a stampede of identical requests causes one upstream call).
 *
 * The invariant tests pin down: a token handed out from the cache has no more than
 * the requested lifetime left (so it never outlives the caller's grant) and at least
 * a useful remainder, `min(minRemainingSeconds, lifetime)`; `expires_in` is computed
 * from its true expiry.
 */
import type {Clock} from '../clock.ts';
import {fingerprint} from '../fingerprint.ts';
import type {IssuedToken} from '../google/iam-credentials.ts';

export interface TokenCacheOptions {
  clock: Clock;
  /** Bound on entries; the least recently used go first. */
  maxEntries?: number;
  /** A cached token with less than this left is not handed out (default 300 s). */
  minRemainingSeconds?: number;
}

export interface CachedToken extends IssuedToken {
  /** True when the token came from the cache rather than a mint for this request. */
  readonly cached: boolean;
  /**
   * `fingerprint(accessToken)` (src/fingerprint.ts), when the cache keeps it beside the
   * token so a hit does not hash the token again.
   */
  readonly tokenSha256?: string;
}

/** A bounded, single-flight cache of issued tokens. */
export interface TokenCache {
  /**
   * A token for `key` good for a caller asking `lifetimeSeconds`: from the cache,
   * from a mint already in flight, or from `mint()`.
   */
  get(
    key: string,
    lifetimeSeconds: number,
    mint: () => Promise<IssuedToken>,
  ): Promise<CachedToken>;
  /** The cached token `get` would hand out now, without minting; undefined if none. */
  peek(key: string, lifetimeSeconds: number): CachedToken | undefined;
  readonly size: number;
  clear(): void;
}

/** Creates an in-memory TokenCache; a shared implementation can replace it. */
export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const {clock} = options;
  const maxEntries = options.maxEntries ?? 10_000;
  const minRemaining = options.minRemainingSeconds ?? 300;
  const entries = new Map<string, IssuedToken & {tokenSha256: string}>();
  const inflight = new Map<string, Promise<IssuedToken>>();
  // When each entry was last handed out (a counter): the least recently used goes
  // first. A hit only updates its key's number, in place; moving the entry to the
  // end of `entries` instead (delete, then set) made V8 rebuild the Map's table,
  // which lives in the old generation, every few hits: garbage there on every
  // request.
  const lastUsed = new Map<string, number>();
  let uses = 0;

  const usable = (t: IssuedToken, lifetimeSeconds: number) => {
    const left = t.expiresAt - clock.now();
    return (
      left >= Math.min(minRemaining, lifetimeSeconds) * 1000 &&
      left <= lifetimeSeconds * 1000
    );
  };

  const remember = (key: string, t: IssuedToken & {tokenSha256: string}) => {
    entries.set(key, t);
    lastUsed.set(key, ++uses);
    if (entries.size > maxEntries) {
      // Evicting scans the entries, only when a mint adds one over the bound.
      let oldest: string | undefined;
      let oldestUse = Infinity;
      for (const [k, n] of lastUsed) {
        if (n < oldestUse) {
          oldest = k;
          oldestUse = n;
        }
      }
      forget(oldest!);
    }
  };

  const forget = (key: string) => {
    entries.delete(key);
    lastUsed.delete(key);
  };

  const peek = (
    key: string,
    lifetimeSeconds: number,
  ): CachedToken | undefined => {
    const hit = entries.get(key);
    if (!hit || !usable(hit, lifetimeSeconds)) return undefined;
    lastUsed.set(key, ++uses);
    return {...hit, cached: true};
  };

  return {
    peek,
    async get(key, lifetimeSeconds, mint) {
      const fresh = peek(key, lifetimeSeconds);
      if (fresh) return fresh;
      forget(key); // whatever is there is no longer good for this caller
      let pending = inflight.get(key);
      if (!pending) {
        pending = mint().then(
          minted => {
            inflight.delete(key);
            const t = {
              ...minted,
              tokenSha256: fingerprint(minted.accessToken),
            };
            remember(key, t);
            return t;
          },
          e => {
            inflight.delete(key);
            throw e;
          },
        );
        inflight.set(key, pending);
      }
      const t = await pending;
      return {...t, cached: false};
    },
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
      lastUsed.clear();
    },
  };
}
