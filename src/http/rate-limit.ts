/**
 * Rate limits: a per-IP limiter in front of authentication (IPv6 addresses grouped by
 * /56, so one host cannot rotate through its prefix) and a per-client limiter after it
 * (so one client cannot spend another's budget from many addresses). Each has its own
 * store and prefix; stores come from a factory so a shared (Redis) store can replace
 * the in-memory one without touching the limiters. See docs/security.md.
 *
 * The stores are express-rate-limit's (its `Store` interface), and the answers are
 * those of its middleware with `standardHeaders: 'draft-8'`: `RateLimit` and
 * `RateLimit-Policy` on every limited route, `Retry-After` and a refusal when over.
 * The limiter itself is a few lines here rather than its middleware, because that
 * middleware costs a dozen promises a request: a store that answers at once (the
 * in-memory one below) is answered at once, and only a store that returns a promise
 * (a shared one) is waited for.
 */
import {createHash} from 'node:crypto';
import type {ServerResponse} from 'node:http';
import {isIPv4} from 'node:net';
import {
  ipKeyGenerator,
  type ClientRateLimitInfo,
  type Options,
  type Store,
} from 'express-rate-limit';
import {systemClock, type Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';

/** Makes the store for one limiter; `prefix` keeps limiters apart in a shared store. */
export type RateLimitStoreFactory = (prefix: string) => Store | undefined;

/**
 * Each limiter counts a request and sets its headers on `res`: it returns undefined
 * when the request may go on (at once, with an in-memory store), a promise when the
 * store must be waited for; it throws (or rejects with) a TvmError when over.
 */
export interface RateLimiters {
  /** Limits by client address (IPv6 by /56), before authentication. */
  perIp(res: ServerResponse, ip: string): Promise<void> | undefined;
  /** Limits by authenticated client id. */
  perClient(res: ServerResponse, clientId: string): Promise<void> | undefined;
}

const WINDOW_MS = 60_000;

/** Creates both limiters, once, at start (never inside a handler). */
export function createRateLimiters(options: {
  perIp: number;
  perClient: number;
  store?: RateLimitStoreFactory;
  /** The wall clock of windows and `t=` (default: the system's). */
  clock?: Clock;
}): RateLimiters {
  const clock = options.clock ?? systemClock;
  const perIp = createLimiter(
    'ip',
    options.perIp,
    options.store?.('tvm-ip:') ?? createMemoryStore(clock),
    clock,
  );
  const perClient = createLimiter(
    'client',
    options.perClient,
    options.store?.('tvm-client:') ?? createMemoryStore(clock),
    clock,
  );
  // The key of an address (IPv6 by /56) is parsed once, not on each of its requests.
  // An address without a colon is no IPv6 address, and express-rate-limit keys it as
  // it is; an IPv4 address mapped into IPv6 (what a dual-stack socket, Node's default,
  // reports for an IPv4 client) it keys as that IPv4 address. Asked only of the
  // others, it never runs Node's IPv6 pattern (compiled at its first use, several
  // milliseconds of the first request of a cold start).
  const ipKeys = new Map<string, string>();
  const ipKey = (ip: string): string => {
    if (!ip.includes(':')) return ip;
    if (ip.startsWith(MAPPED) && isIPv4(ip.slice(MAPPED.length))) {
      return ip.slice(MAPPED.length);
    }
    let key = ipKeys.get(ip);
    if (key === undefined) {
      if (ipKeys.size >= 10_000) ipKeys.clear();
      key = ipKeyGenerator(ip, 56);
      ipKeys.set(ip, key);
    }
    return key;
  };
  return {
    perIp: (res, ip) => perIp(res, ipKey(ip || 'unknown')),
    perClient,
  };
}

/** The prefix of an IPv4 address mapped into IPv6 (RFC 4291 2.5.5.2), as Node writes it. */
const MAPPED = '::ffff:';

/**
 * One limiter: counts a hit of `key`, sets the draft-8 headers on `res`, and throws
 * ERR_RATE_LIMITED (with `Retry-After` set) when over the limit.
 */
function createLimiter(
  name: string,
  limit: number,
  store: Store,
  clock: Clock,
): (res: ServerResponse, key: string) => Promise<void> | undefined {
  const windowSeconds = Math.ceil(WINDOW_MS / 1000);
  void Promise.resolve(
    store.init?.({windowMs: WINDOW_MS, limit} as unknown as Options),
  ).catch(() => undefined);
  // The partition key of `RateLimit-Policy`: a SHA-256 of the key, kept so a caller's
  // every request does not hash it again; cleared whole when it grows too large.
  const partitionKeys = new Map<string, string>();
  const partitionKey = (key: string): string => {
    let pk = partitionKeys.get(key);
    if (pk === undefined) {
      if (partitionKeys.size >= 10_000) partitionKeys.clear();
      pk = Buffer.from(
        createHash('sha256').update(key).digest('hex').slice(0, 12),
      ).toString('base64');
      partitionKeys.set(key, pk);
    }
    return pk;
  };
  const counted = (
    res: ServerResponse,
    key: string,
    info: ClientRateLimitInfo,
  ) => {
    if (res.headersSent) return;
    const remaining = Math.max(limit - info.totalHits, 0);
    const reset = info.resetTime
      ? Math.max(0, Math.ceil((info.resetTime.getTime() - clock.now()) / 1000))
      : windowSeconds;
    res.appendHeader('RateLimit', `"${name}"; r=${remaining}; t=${reset}`);
    res.appendHeader(
      'RateLimit-Policy',
      `"${name}"; q=${limit}; w=${windowSeconds}; pk=:${partitionKey(key)}:`,
    );
    if (info.totalHits > limit) {
      res.setHeader('Retry-After', reset.toString());
      throw new TvmError('ERR_RATE_LIMITED', 'too many requests; slow down');
    }
  };
  return (res, key) => {
    const info = store.increment(key);
    if (isPromise(info)) return info.then(i => counted(res, key, i));
    counted(res, key, info);
    return undefined;
  };
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as {then?: unknown}).then === 'function';
}

/**
 * The in-memory store: a fixed window per key from its first hit, as
 * express-rate-limit's own MemoryStore counts, answered without a promise. Expired
 * keys are swept once a window, so memory is bounded by the keys of one window.
 */
export function createMemoryStore(clock: Clock = systemClock): Store {
  let windowMs = WINDOW_MS;
  const hits = new Map<string, {totalHits: number; resetTime: Date}>();
  let sweep: NodeJS.Timeout | undefined;
  const current = (key: string) => {
    const c = hits.get(key);
    return c && c.resetTime.getTime() > clock.now() ? c : undefined;
  };
  return {
    localKeys: true,
    init(options) {
      windowMs = options.windowMs;
      sweep ??= setInterval(() => {
        const now = clock.now();
        for (const [key, c] of hits) {
          if (c.resetTime.getTime() <= now) hits.delete(key);
        }
      }, windowMs).unref();
    },
    get: key => current(key),
    increment(key) {
      let c = current(key);
      if (!c) {
        c = {totalHits: 0, resetTime: new Date(clock.now() + windowMs)};
        hits.set(key, c);
      }
      c.totalHits++;
      return {totalHits: c.totalHits, resetTime: c.resetTime};
    },
    decrement(key) {
      const c = current(key);
      if (c && c.totalHits > 0) c.totalHits--;
    },
    resetKey(key) {
      hits.delete(key);
    },
    resetAll() {
      hits.clear();
    },
    shutdown() {
      if (sweep) clearInterval(sweep);
    },
  };
}
