/**
 * Rate limits with express-rate-limit: a per-IP limiter in front of authentication
 * (IPv6 addresses grouped by /56, so one host cannot rotate through its prefix) and a
 * per-client limiter after it (so one client cannot spend another's budget from many
 * addresses). Each has its own store and prefix; stores come from a factory so a
 * shared (Redis) store can replace the in-memory one without touching the limiters.
 * See docs/security.md.
 */
import type {NextFunction, Request, RequestHandler, Response} from 'express';
import {ipKeyGenerator, rateLimit, type Store} from 'express-rate-limit';
import {TvmError} from '../errors.ts';

/** Makes the store for one limiter; `prefix` keeps limiters apart in a shared store. */
export type RateLimitStoreFactory = (prefix: string) => Store | undefined;

export interface RateLimiters {
  /** Middleware: limits by client address (IPv6 by /56), before authentication. */
  readonly perIp: RequestHandler;
  /** Limits by authenticated client id; rejects with a TvmError when over. */
  perClient(req: Request, res: Response, clientId: string): Promise<void>;
}

const WINDOW_MS = 60_000;

/** Creates both limiters, once, at start (never inside a handler). */
export function createRateLimiters(options: {
  perIp: number;
  perClient: number;
  store?: RateLimitStoreFactory;
}): RateLimiters {
  const limited = (_req: Request, _res: Response, next: NextFunction) =>
    next(
      // express-rate-limit has set Retry-After and the RateLimit headers.
      new TvmError('ERR_RATE_LIMITED', 'too many requests; slow down'),
    );
  const perIp = rateLimit({
    windowMs: WINDOW_MS,
    limit: options.perIp,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'ip',
    keyGenerator: req => ipKeyGenerator(req.ip ?? 'unknown', 56),
    handler: limited,
    store: options.store?.('tvm-ip:'),
  });
  const clientKey = Symbol('tvm.clientId');
  const perClientMw = rateLimit({
    windowMs: WINDOW_MS,
    limit: options.perClient,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'client',
    requestPropertyName: 'rateLimitClient',
    keyGenerator: req => (req as unknown as Record<symbol, string>)[clientKey]!,
    handler: limited,
    store: options.store?.('tvm-client:'),
  });
  return {
    perIp,
    perClient: (req, res, clientId) =>
      new Promise<void>((resolve, reject) => {
        (req as unknown as Record<symbol, string>)[clientKey] = clientId;
        void perClientMw(req, res, (err?: unknown) =>
          err ? reject(err) : resolve(),
        );
      }),
  };
}
