/**
 * The shared token cache: a `TokenCache` (src/mint/token-cache.ts) whose misses look in
 * the shared store before minting, so a token minted by one instance is served by
 * every other until the refresh point the local cache uses (`min(300 s, lifetime)`
 * before expiry: the entry's Redis expiry is set to exactly that point).
 *
 * A cold fleet makes one mint per key: the instance that takes a short lock
 * (`SET NX PX`) mints and publishes; the others poll for the published token. If the
 * holder does not publish within `waitMs`, or the store fails at any step, an instance
 * mints for itself (the fallback is an extra mint, never a refusal).
 *
 * Tokens at rest are AES-256-GCM encrypted under the cache key, with the cache key
 * (account, scopes, lifetime class) as additional authenticated data, so a value moved
 * to another key, or altered, fails to decrypt and is treated as a miss.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  randomUUID,
} from 'node:crypto';
import type {Clock, MonotonicClock} from '../clock.ts';
import type {IssuedToken} from '../google/iam-credentials.ts';
import type {Logger} from '../log.ts';
import type {TokenCache} from '../mint/token-cache.ts';
import {degradation, type SharedStore} from './redis.ts';

export interface SharedTokenCacheOptions {
  /** The per-instance cache in front (and the fallback when the store is down). */
  readonly local: TokenCache;
  readonly store: SharedStore;
  readonly clock: Clock;
  /** For the waits (lock, polling). */
  readonly monotonic: MonotonicClock;
  readonly logger: Logger;
  /** As the local cache's (default 300 s). */
  readonly minRemainingSeconds?: number;
  /** Life of the mint lock (default 20 s: longer than a mint may take). */
  readonly lockMs?: number;
  /** How long an instance waits for another's mint before minting itself (default 5 s). */
  readonly waitMs?: number;
  /** Between two looks while waiting (default 25 ms). */
  readonly pollMs?: number;
}

/** Marks a token that came from the shared store, not from this instance's mint. */
const FROM_FLEET = Symbol('tvm.fromFleet');
type FleetToken = IssuedToken & {[FROM_FLEET]?: true};

const VERSION = 'v1';

/** Releases the lock only if it is still ours. */
const RELEASE =
  'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end';

export function createSharedTokenCache(
  options: SharedTokenCacheOptions,
): TokenCache {
  const {local, store, clock, monotonic, logger} = options;
  const minRemaining = options.minRemainingSeconds ?? 300;
  const lockMs = options.lockMs ?? 20_000;
  const waitMs = options.waitMs ?? 5_000;
  const pollMs = options.pollMs ?? 25;
  const health = degradation(
    logger,
    'token cache',
    'tokens are cached per instance until it is back',
  );

  const margin = (lifetime: number) => Math.min(minRemaining, lifetime) * 1000;
  const usable = (t: IssuedToken, lifetime: number) => {
    const left = t.expiresAt - clock.now();
    return left >= margin(lifetime) && left <= lifetime * 1000;
  };
  const aad = (key: string) =>
    Buffer.from(`tvm token cache ${VERSION}\n${key}`);

  const seal = (cacheKey: Buffer, key: string, t: IssuedToken): string => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', cacheKey, iv);
    c.setAAD(aad(key));
    const body = Buffer.concat([
      c.update(JSON.stringify({t: t.accessToken, e: t.expiresAt})),
      c.final(),
    ]);
    return [VERSION, iv, body, c.getAuthTag()]
      .map(p => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  };

  const open = (
    cacheKey: Buffer,
    key: string,
    value: string,
  ): IssuedToken | undefined => {
    const [version, iv, body, tag] = value.split('.');
    if (version !== VERSION || !iv || !body || !tag) return undefined;
    try {
      const d = createDecipheriv(
        'aes-256-gcm',
        cacheKey,
        Buffer.from(iv, 'base64url'),
        {authTagLength: 16},
      );
      d.setAAD(aad(key));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([
        d.update(Buffer.from(body, 'base64url')),
        d.final(),
      ]).toString('utf8');
      const parsed = JSON.parse(plain) as {t?: unknown; e?: unknown};
      if (typeof parsed.t !== 'string' || typeof parsed.e !== 'number')
        return undefined;
      return {accessToken: parsed.t, expiresAt: parsed.e};
    } catch {
      return undefined;
    }
  };

  const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

  /** The local cache's miss: the fleet's token, or one mint for the fleet. */
  const fromFleet = async (
    key: string,
    lifetime: number,
    mint: () => Promise<IssuedToken>,
  ): Promise<FleetToken> => {
    const id = createHash('sha256').update(key).digest('base64url');
    const tokenKey = `tvm-tok:${id}`;
    const lockKey = `tvm-lock:${id}`;

    /** A usable published token; throws when the store fails. */
    const look = async (): Promise<FleetToken | undefined> => {
      const client = store.client();
      const cacheKey = store.cacheKey();
      if (!client || !cacheKey) throw new Error('not connected');
      const value = await client.get(tokenKey);
      if (value === null) return undefined;
      const t = open(cacheKey, key, value);
      if (!t) {
        logger.warn(
          {component: 'token cache', entry: id.slice(0, 16)},
          'token cache: a shared entry failed authentication (altered, moved or under another key); ignored',
        );
        return undefined;
      }
      return usable(t, lifetime) ? {...t, [FROM_FLEET]: true} : undefined;
    };

    const publish = async (t: IssuedToken): Promise<void> => {
      const client = store.client();
      const cacheKey = store.cacheKey();
      const ttl = Math.floor(t.expiresAt - clock.now() - margin(lifetime));
      if (!client || !cacheKey || ttl <= 0) return;
      try {
        await client.set(tokenKey, seal(cacheKey, key, t), 'PX', ttl);
        health.ok();
      } catch (e) {
        health.failed(e);
      }
    };

    const waitUntil = monotonic.now() + waitMs;
    for (;;) {
      let nonce: string | undefined;
      try {
        const found = await look();
        if (found) {
          health.ok();
          return found;
        }
        nonce = randomUUID();
        const got = await store
          .client()!
          .set(lockKey, nonce, 'PX', lockMs, 'NX');
        health.ok();
        if (got !== 'OK') nonce = undefined;
      } catch (e) {
        health.failed(e);
        return mint();
      }
      if (nonce !== undefined) {
        // Ours: mint once for the fleet, publish, let go.
        try {
          const t = await mint();
          await publish(t);
          return t;
        } finally {
          void store
            .client()
            ?.eval(RELEASE, 1, lockKey, nonce)
            .catch(() => undefined);
        }
      }
      // Another instance is minting: wait for its token, or for the lock to go.
      try {
        while (monotonic.now() < waitUntil) {
          await sleep(pollMs);
          const found = await look();
          if (found) return found;
          if ((await store.client()?.exists(lockKey)) === 0) break;
        }
      } catch (e) {
        health.failed(e);
        return mint();
      }
      if (monotonic.now() >= waitUntil) return mint();
    }
  };

  return {
    peek: (key, lifetime) => local.peek(key, lifetime),
    async get(key, lifetime, mint) {
      const t = await local.get(key, lifetime, () =>
        fromFleet(key, lifetime, mint),
      );
      return (t as FleetToken)[FROM_FLEET] ? {...t, cached: true} : t;
    },
    get size() {
      return local.size;
    },
    clear: () => local.clear(),
  };
}
