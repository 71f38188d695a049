/**
 * The shared store: one Redis connection per instance (ioredis), used by the global
 * rate limits (src/store/rate-limit-store.ts), the replay guard across instances
 * (src/store/replay.ts) and the shared token cache (src/store/token-cache.ts).
 *
 * Everything here is bounded: a command that is not answered within the configured
 * timeout fails, and a command issued while the connection is down fails at once (no
 * offline queue), so a caller never waits on a Redis that is not there. The
 * connection comes back by itself (reconnect with capped backoff). The AUTH string
 * and the cache key are read from Secret Manager (or taken from the configuration in
 * local mode) before the first connection; until then the store is "not ready" and
 * each user does what it does when Redis is down. See docs/shared-store.md.
 */
import {isIP} from 'node:net';
import {Redis} from 'ioredis';
import type {RedisLocation} from '../config.ts';
import {decodeCacheKey} from '../config.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import type {SecretVersionName} from '../google/secret-version.ts';
import type {Logger} from '../log.ts';

export interface SharedStoreOptions {
  readonly location: RedisLocation;
  /** PEM of the server's CA for rediss:// (default: the system's CAs). */
  readonly ca?: string;
  /** The AUTH string in Secret Manager (production). */
  readonly authSecret?: SecretVersionName;
  /** The cache key: given (local), or in Secret Manager (production). */
  readonly cacheKey?: Buffer;
  readonly cacheKeySecret?: SecretVersionName;
  /** Longest wait for one command, ms. */
  readonly timeoutMs: number;
  readonly secrets: () => SecretReader;
  readonly logger: Logger;
  /** How long after a failed secret read it is tried again (default 5 s). */
  readonly secretRetryMs?: number;
}

export interface SharedStore {
  /** The connection when it is up and authenticated; undefined otherwise. */
  client(): Redis | undefined;
  /** The 256-bit key that encrypts tokens at rest; undefined until read. */
  cacheKey(): Buffer | undefined;
  /** Longest wait for one command, ms. */
  readonly timeoutMs: number;
  /** Resolves once the secrets are read and a first connection attempt ended. */
  started(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by users of the store when it cannot be used right now. */
export class StoreUnavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = new.target.name;
  }
}

/** What is safe to log of a store failure: its name and code, never a value. */
export function describeStoreError(e: unknown): string {
  if (!(e instanceof Error)) return 'unknown';
  const code = (e as {code?: unknown}).code;
  // ioredis's messages name the command and the server's reply kind (NOAUTH,
  // WRONGPASS, ECONNREFUSED, "Command timed out"), never a value sent.
  const first = e.message.split('\n', 1)[0]!.slice(0, 120);
  return `${e.name}${typeof code === 'string' ? ` ${code}` : ''}: ${first}`;
}

/** Connects to the shared store in the background; never throws. */
export function createSharedStore(options: SharedStoreOptions): SharedStore {
  const {location, logger, timeoutMs} = options;
  let redis: Redis | undefined;
  let key = options.cacheKey;
  let closed = false;
  let up = false;
  // A failure was reported and nothing has connected since: further ones are debug.
  // The first failure is reported too, when the store never came up at all (a
  // certificate the CA does not vouch for, a wrong password, nothing listening).
  let quiet = false;
  let retry: NodeJS.Timeout | undefined;

  const readSecret = async (name: SecretVersionName): Promise<Buffer> =>
    options.secrets().access(name.name, 10_000);

  const connect = (password: string | undefined) => {
    const client = new Redis({
      host: location.host,
      port: location.port,
      db: location.db,
      username: location.username,
      password,
      tls: location.tls
        ? {
            ca: options.ca,
            // SNI carries host names only (RFC 6066 §3): for an address (as
            // Memorystore gives), the certificate is checked against the address.
            servername: isIP(location.host) ? undefined : location.host,
            minVersion: 'TLSv1.2',
          }
        : undefined,
      connectionName: 'tvm',
      connectTimeout: Math.max(1000, timeoutMs * 4),
      commandTimeout: timeoutMs,
      // Fail at once while disconnected rather than queue: every user has an answer
      // for "Redis is down", none should wait for it.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: times => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      // The first reply after a reconnect decides; nothing to resubscribe.
      autoResubscribe: false,
      lazyConnect: false,
      keepAlive: 10_000,
    });
    client.on('ready', () => {
      quiet = false;
      if (!up) {
        up = true;
        logger.info(
          {store: location.display},
          'shared store connected: rate limits, replay guard and token cache are fleet-wide',
        );
      }
    });
    // Without a listener ioredis would print each error to the console itself.
    client.on('error', (e: unknown) => {
      if (!quiet) {
        quiet = true;
        up = false;
        logger.warn(
          {store: location.display, error: describeStoreError(e)},
          'shared store unreachable',
        );
      } else {
        logger.debug(
          {store: location.display, error: describeStoreError(e)},
          'shared store still unreachable',
        );
      }
    });
    client.on('close', () => {
      if (up) {
        up = false;
        quiet = true;
        logger.warn({store: location.display}, 'shared store connection lost');
      }
    });
    redis = client;
  };

  /** Reads `what` until it is read or the store is closed; one error line, then debug. */
  const persist = async <T>(
    what: string,
    read: () => Promise<T>,
  ): Promise<T | undefined> => {
    let failures = 0;
    while (!closed) {
      try {
        return await read();
      } catch (e) {
        logger[failures++ === 0 ? 'error' : 'debug'](
          {store: location.display, error: describeStoreError(e)},
          `shared store: ${what} could not be read; retrying every ${(options.secretRetryMs ?? 5000) / 1000} s`,
        );
        await new Promise<void>(resolve => {
          retry = setTimeout(resolve, options.secretRetryMs ?? 5000);
          retry.unref();
        });
      }
    }
    return undefined;
  };

  // The AUTH string first: without a connection the rate limits are per instance and
  // the replay guard refuses assertions. The cache key is read on its own: until it
  // is, only the token cache stays per instance.
  const connecting = persist('the AUTH string', async () =>
    options.authSecret
      ? (await readSecret(options.authSecret)).toString('utf8').trim()
      : location.password,
  ).then(password => {
    if (!closed) connect(password);
  });
  const keyed = key
    ? Promise.resolve()
    : persist('the cache key', async () => {
        const k = decodeCacheKey(await readSecret(options.cacheKeySecret!));
        // A secret of the wrong shape may get a new version: keep trying, and say why.
        if (!k)
          throw new Error('the secret does not hold 32 bytes (raw or base64)');
        return k;
      }).then(k => {
        key = k;
      });
  const start = () => Promise.all([connecting, keyed]).then(() => undefined);
  const started = start();

  return {
    client: () => (redis?.status === 'ready' ? redis : undefined),
    cacheKey: () => key,
    timeoutMs,
    started: () => started,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const r = redis;
      redis = undefined;
      if (r) {
        await r.quit().catch(() => r.disconnect());
      }
    },
  };
}

/**
 * One operator log line per change between "using the shared store" and "using the
 * per-instance fallback", for one user of the store.
 */
export interface Degradation {
  /** The shared store answered. */
  ok(): void;
  /** The shared store could not be used; `e` is what failed. */
  failed(e: unknown): void;
}

export function degradation(
  logger: Logger,
  component: string,
  fallback: string,
): Degradation {
  let degraded = false;
  return {
    ok() {
      if (degraded) {
        degraded = false;
        logger.info(
          {component},
          `${component}: shared store back, fleet-wide again`,
        );
      }
    },
    failed(e) {
      if (!degraded) {
        degraded = true;
        logger.warn(
          {component, error: describeStoreError(e)},
          `${component}: shared store unavailable, ${fallback}`,
        );
      }
    },
  };
}
