/**
 * Global rate limits: express-rate-limit's `Store` backed by rate-limit-redis (one
 * atomic script per hit, so every instance counts against the same window), falling
 * back to express-rate-limit's own MemoryStore — the per-instance limit of a single
 * instance — while the shared store cannot be used, and going back to it by itself.
 * Plugged in through `RateLimitStoreFactory` (src/http/rate-limit.ts).
 */
import {
  MemoryStore,
  type ClientRateLimitInfo,
  type Options,
  type Store,
} from 'express-rate-limit';
import {RedisStore, type RedisReply} from 'rate-limit-redis';
import type {Logger} from '../log.ts';
import {degradation, type Degradation, type SharedStore} from './redis.ts';

/**
 * A store per limiter prefix over the shared store, with per-instance fallback: a
 * `RateLimitStoreFactory` (src/http/rate-limit.ts; the type is restated so this room
 * does not import from src/http/).
 */
export function sharedRateLimitStores(
  store: SharedStore,
  logger: Logger,
): (prefix: string) => Store {
  // One transition log for both limiters: they share the connection.
  const health = degradation(
    logger,
    'rate limits',
    'limits are per instance until it is back',
  );
  return prefix => new FallbackStore(store, prefix, health);
}

class FallbackStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  readonly #store: SharedStore;
  readonly #health: Degradation;
  readonly #memory = new MemoryStore();
  readonly #redis: RedisStore;
  #options: Options | undefined;
  /** The Lua scripts loaded on the current connection; reset by any failure. */
  #loaded: Promise<void> | undefined;

  constructor(store: SharedStore, prefix: string, health: Degradation) {
    this.prefix = prefix;
    this.#store = store;
    this.#health = health;
    this.#redis = new RedisStore({
      prefix,
      sendCommand: (...args: string[]) => {
        const client = store.client();
        if (!client) return Promise.reject(new Error('shared store not ready'));
        const [command, ...rest] = args;
        return client.call(command!, ...rest) as Promise<RedisReply>;
      },
    });
  }

  init(options: Options): void {
    this.#options = options;
    this.#memory.init(options);
  }

  /** The Redis store, scripts loaded; undefined when it cannot be used now. */
  async #shared(): Promise<RedisStore | undefined> {
    if (!this.#store.client() || !this.#options) return undefined;
    this.#loaded ??= this.#redis.init(this.#options);
    await this.#loaded;
    return this.#redis;
  }

  async #try<T>(op: (r: RedisStore) => Promise<T>): Promise<T | undefined> {
    try {
      const r = await this.#shared();
      if (!r) {
        this.#health.failed(new Error('not connected'));
        return undefined;
      }
      const value = await op(r);
      this.#health.ok();
      return value;
    } catch (e) {
      // A failed script load stays failed in RedisStore: load again next time.
      this.#loaded = undefined;
      this.#health.failed(e);
      return undefined;
    }
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const shared = await this.#try(r => r.get(key));
    return shared ?? this.#memory.get(key);
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const shared = await this.#try(r => r.increment(key));
    return shared ?? this.#memory.increment(key);
  }

  async decrement(key: string): Promise<void> {
    await this.#try(r => r.decrement(key));
    await this.#memory.decrement(key);
  }

  async resetKey(key: string): Promise<void> {
    await this.#try(r => r.resetKey(key));
    await this.#memory.resetKey(key);
  }

  shutdown(): void {
    this.#memory.shutdown();
  }
}
