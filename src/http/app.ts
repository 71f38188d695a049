/**
 * The HTTP surface (contract.md): POST /token, the IAM Credentials-shaped
 * generateAccessToken, GET /healthz, JSON 404/405 for the rest. An express app handed
 * to functions-framework as the `tvm` function; every error leaves through the one
 * mapping of its surface, nothing escapes to the framework.
 */
import express, {type NextFunction, type Request, type Response} from 'express';
import {createAuthenticator} from '../auth/authenticate.ts';
import {
  createMemoryReplayStore,
  type ReplayStore,
} from '../auth/replay-store.ts';
import type {Clock} from '../clock.ts';
import type {Config} from '../config.ts';
import {TvmError} from '../errors.ts';
import type {Logger} from '../log.ts';
import type {Minter} from '../mint/minter.ts';
import {createKeyResolver, type KeyResolver} from '../oidc/keys.ts';
import type {PolicySource} from '../policy-source.ts';
import {createAuditTrail} from './audit-trail.ts';
import {sendError} from './errors.ts';
import {GENERATE_ACCESS_TOKEN_PATH, sendGoogleError} from './google-shape.ts';
import {createIamEndpoint} from './iam-endpoint.ts';
import {createRateLimiters, type RateLimitStoreFactory} from './rate-limit.ts';
import {createTokenEndpoint} from './token-endpoint.ts';

export {DEFAULT_MINT_DEADLINE_MS} from './grant.ts';

export interface AppDeps {
  readonly config: Config;
  readonly policies: PolicySource;
  readonly minter: Minter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly rateLimitStore?: RateLimitStoreFactory;
  /** Time a request may spend minting (default DEFAULT_MINT_DEADLINE_MS). */
  readonly mintDeadlineMs?: number;
  /** The Google project, for trace ids in logs; undefined when unknown. */
  readonly projectId?: () => string | undefined;
  /**
   * Verification keys of OIDC issuers and assertion signers (default: fetched with
   * the global fetch, default bounds and cache).
   */
  readonly keys?: KeyResolver;
  /** Where used client-assertion ids are remembered (default: in memory). */
  readonly replay?: ReplayStore;
}

/** Builds the express app that serves tvm. */
export function createApp(deps: AppDeps): express.Express {
  const {config, policies, clock, logger} = deps;
  const trail = createAuditTrail(logger, deps.projectId);
  const limiters = createRateLimiters({
    perIp: config.rateLimitPerIp,
    perClient: config.rateLimitPerClient,
    store: deps.rateLimitStore,
  });
  const auth = createAuthenticator({
    issuer: config.issuer,
    clock,
    keys: deps.keys ?? createKeyResolver({fetch: globalThis.fetch, clock}),
    replay: deps.replay ?? createMemoryReplayStore({clock}),
  });
  const endpointDeps = {
    policies,
    minter: deps.minter,
    clock,
    mintDeadlineMs: deps.mintDeadlineMs,
    auth,
    limiters,
    trail,
  };
  const handleToken = createTokenEndpoint(endpointDeps);
  const handleGenerateAccessToken = createIamEndpoint(endpointDeps);

  const app = express();
  // Exactly the proxies that exist: the client address is the entry the last trusted
  // hop appended, never one the caller wrote (express-rate-limit #134, #363).
  app.set('trust proxy', config.trustedProxyHops);
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  // Token routes: POST only, the per-IP limit before anything else is read.
  const postOnly = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST') {
      next(methodNotAllowed(['POST']));
      return;
    }
    limiters.perIp(req, res, next);
  };
  app.all('/token', postOnly);
  app.post('/token', (req, res) => void handleToken(req, res));
  app.all(GENERATE_ACCESS_TOKEN_PATH, postOnly);
  app.post(
    GENERATE_ACCESS_TOKEN_PATH,
    (req, res) => void handleGenerateAccessToken(req, res),
  );

  app.all('/healthz', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next(methodNotAllowed(['GET', 'HEAD']));
      return;
    }
    const s = policies.status();
    res.setHeader('Cache-Control', 'no-store');
    if (s.ok) {
      res.status(200).json({status: 'ok'});
    } else {
      res
        .status(503)
        .json({status: 'unavailable', reason: publicReason(s.reason)});
    }
  });

  app.use((_req, _res, next) => {
    next(new TvmError('ERR_NOT_FOUND', 'no such route'));
  });

  // Refusals before a handler ran (405, the per-IP limit, 404), in the route's shape;
  // those on token routes are audited too.
  app.use(
    // Express recognises an error handler by its four parameters.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) return;
      const google = GENERATE_ACCESS_TOKEN_PATH.test(req.path);
      const audited = req.path === '/token' || google;
      const audit = audited ? trail.begin(req) : undefined;
      if (audit) res.setHeader('X-Request-Id', audit.requestId);
      const status = google ? sendGoogleError(res, err) : sendError(res, err);
      if (audit) trail.deny(req, audit, status, performance.now(), err);
      if (status >= 500) trail.unexpected(err);
    },
  );

  return app;
}

function methodNotAllowed(allow: readonly string[]): TvmError {
  return new TvmError(
    'ERR_METHOD_NOT_ALLOWED',
    'method not allowed on this route',
    {allow},
  );
}

/** What /healthz may say publicly: the kind of failure, not the policy's contents. */
function publicReason(reason: string | undefined): string {
  if (!reason) return 'no policy';
  if (reason.startsWith('invalid policy'))
    return 'the policy failed validation; see the logs';
  return reason.replace(/:.*$/s, '');
}
