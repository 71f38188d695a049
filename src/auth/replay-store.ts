/**
 * Replay protection for client assertions (RFC 7523 §3 item 7): a `jti` is accepted
 * once while the assertion could still be valid. An interface, so a shared store
 * (Redis, for several instances) can replace the in-memory one.
 */
import type {Clock} from '../clock.ts';

export interface ReplayStore {
  /**
   * Records `key` until `expiresAt` (epoch ms). Resolves false when the key was
   * already recorded and has not expired: the assertion is a replay.
   */
  remember(key: string, expiresAt: number): Promise<boolean>;
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
 * could still be replayed.
 */
export function createMemoryReplayStore(
  options: MemoryReplayStoreOptions,
): ReplayStore {
  const max = options.maxEntries ?? 100_000;
  const seen = new Map<string, number>();
  return {
    remember(key, expiresAt) {
      const now = options.clock.now();
      const prior = seen.get(key);
      if (prior !== undefined && prior > now) return Promise.resolve(false);
      if (seen.size >= max) {
        for (const [k, exp] of seen) if (exp <= now) seen.delete(k);
        if (seen.size >= max) return Promise.reject(new ReplayStoreFull());
      }
      seen.set(key, expiresAt);
      return Promise.resolve(true);
    },
  };
}
