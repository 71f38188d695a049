/**
 * Replay protection for client assertions (RFC 7523 §3 item 7): a `jti` is accepted
 * once while the assertion could still be valid. An interface, so a shared store
 * (Redis, for several instances) can replace the in-memory one.
 */
import type {Clock} from '../clock.ts';

export interface ReplayStore {
  /**
   * Records `key` until `expiresAt` (epoch ms). Answers false when the key was
   * already recorded and has not expired: the assertion is a replay. At once when
   * the store is in memory (nothing to wait for, so no promise), else through a
   * promise; a store that cannot record the key throws or rejects.
   */
  remember(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/** Thrown when the store cannot record a key: the assertion must be refused. */
export class ReplayStoreFull extends Error {
  constructor() {
    super('replay store is full');
    this.name = new.target.name;
  }
}

export interface MemoryReplayStoreOptions {
  readonly clock: Clock;
  /** Most keys held at once (default 100 000). */
  readonly maxEntries?: number;
}

/**
 * A per-instance store: a map of key → expiry, purged of expired keys when it fills.
 * When it is full of live keys it refuses (fail closed) rather than forget a key that
 * could still be replayed. It knows the earliest expiry it holds, so while none has
 * passed a full store refuses at once: a flood of fresh assertions costs no walk over
 * every key held, each time.
 */
export function createMemoryReplayStore(
  options: MemoryReplayStoreOptions,
): ReplayStore {
  const max = options.maxEntries ?? 100_000;
  const seen = new Map<string, number>();
  /** No key held expires before this (a lower bound: a key may have been replaced). */
  let earliest = Infinity;
  return {
    remember(key, expiresAt) {
      const now = options.clock.now();
      const prior = seen.get(key);
      if (prior !== undefined && prior > now) return false;
      if (seen.size >= max) {
        if (earliest > now) throw new ReplayStoreFull();
        earliest = Infinity;
        for (const [k, exp] of seen) {
          if (exp <= now) seen.delete(k);
          else if (exp < earliest) earliest = exp;
        }
        if (seen.size >= max) throw new ReplayStoreFull();
      }
      seen.set(key, expiresAt);
      if (expiresAt < earliest) earliest = expiresAt;
      return true;
    },
  };
}
