/**
 * The HTTP surface: POST /token, the IAM Credentials-shaped generateAccessToken and
 * generateIdToken, GET /healthz (and /health), JSON 404/405 for the rest. An express app handed to
 * functions-framework as the `tvm` function; every error leaves through the one
 * mapping of its surface (src/http/errors.ts), nothing escapes to the framework.
 */
import express, {type NextFunction, type Request, type Response} from 'express';
import type {AuditTrail} from '../audit.ts';
import type {Authenticate} from '../auth/authenticate.ts';
import type {MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import type {VendDeps} from '../grants/vend.ts';
import type {PolicySource} from '../policy-source.ts';
import {sendGoogleError, sendOAuthError} from './errors.ts';
import {generateAccessToken as generateAccessTokenGrant} from '../grants/generate-access-token.ts';
import {generateIdToken as generateIdTokenGrant} from '../grants/generate-id-token.ts';
import type {IdTokenMinter} from '../mint/id-token.ts';
import {callerString} from '../text.ts';
import {
  GENERATE_ACCESS_TOKEN_PATH,
  accountOf,
  createIamEndpoint,
} from './iam-endpoint.ts';
import {
  GENERATE_ID_TOKEN_PATH,
  createIamIdTokenEndpoint,
  idTokenAccountOf,
} from './iam-id-token-endpoint.ts';
import type {RateLimiters} from './rate-limit.ts';
import {beginAudit, sentBasic} from './request.ts';
import {createTokenEndpoint} from './token-endpoint.ts';

/** The token routes, whose refusals are decisions (and take their route's shape). */
type TokenRoute = 'token' | 'iam' | 'iam-id';

export interface AppDeps extends VendDeps {
  readonly policies: PolicySource;
  readonly authenticate: Authenticate;
  readonly limiters: RateLimiters;
  readonly trail: AuditTrail;
  readonly monotonic: MonotonicClock;
  /** ID tokens (src/mint/id-token.ts), for both routes that vend them. */
  readonly idTokens: IdTokenMinter;
  /**
   * How many reverse-proxy hops in front append to X-Forwarded-For: the client
   * address is the entry the last trusted hop appended.
   */
  readonly trustedProxyHops: number;
}

/** Builds the express app that serves tvm. */
export function createApp(deps: AppDeps): express.Express {
  const {policies, limiters, trail, monotonic} = deps;
  const handleToken = createTokenEndpoint(deps);
  const handleGenerateAccessToken = createIamEndpoint(deps);
  const handleGenerateIdToken = createIamIdTokenEndpoint(deps);

  const app = express();
  // Exactly the proxies that exist: the client address is the entry the last trusted
  // hop appended, never one the caller wrote (express-rate-limit #134, #363).
  app.set('trust proxy', deps.trustedProxyHops);
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    // Latency in the audit record is measured from here, the request's arrival.
    res.locals.startedAt = monotonic.now();
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // The common request goes straight to its handler, as the routes below would send
    // it (the per-IP limit first), without walking them; any other spelling of the
    // path walks them.
    if (req.method === 'POST' && req.path === '/token') {
      res.locals.route = 'token' satisfies TokenRoute;
      limiters.perIp(req, res, (err?: unknown) => {
        if (err === undefined) handleToken(req, res);
        else next(err);
      });
      return;
    }
    next();
  });

  // Token routes: POST only, the per-IP limit before anything else is read. Express
  // matches them in any case and with a trailing slash (`/TOKEN`, `/token/`): the
  // route, not the path as written, says which shape a refusal takes.
  const postOnly =
    (route: TokenRoute) =>
    (req: Request, res: Response, next: NextFunction) => {
      res.locals.route = route;
      if (req.method !== 'POST') {
        methodNotAllowed(res, next, ['POST']);
        return;
      }
      limiters.perIp(req, res, next);
    };
  app.all('/token', postOnly('token'));
  app.post('/token', handleToken);
  app.all(GENERATE_ACCESS_TOKEN_PATH, postOnly('iam'));
  app.post(
    GENERATE_ACCESS_TOKEN_PATH,
    (req, res) => void handleGenerateAccessToken(req, res),
  );
  app.all(GENERATE_ID_TOKEN_PATH, postOnly('iam-id'));
  app.post(
    GENERATE_ID_TOKEN_PATH,
    (req, res) => void handleGenerateIdToken(req, res),
  );

  // /healthz as Cloud Functions users expect it; /health too, since Cloud Run's own
  // front end reserves some paths that end in `z`.
  app.all(['/healthz', '/health'], (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      methodNotAllowed(res, next, ['GET', 'HEAD']);
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

  // Refusals before a handler ran (405, the per-IP limit, 404), in the route's shape,
  // each audited: those on tvm's routes as decisions, the rest (a scanner's probes of
  // paths tvm does not serve) at a lower severity.
  app.use(
    // Express recognises an error handler by its four parameters.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) return;
      const route = res.locals.route as TokenRoute | undefined;
      const audit = beginAudit(trail, req, res);
      let status: number;
      if (route === 'iam') {
        audit.grantType = generateAccessTokenGrant.name;
        audit.requestedAccount = callerString(accountOf(req.path));
        status = sendGoogleError(res, err);
      } else if (route === 'iam-id') {
        audit.grantType = generateIdTokenGrant.name;
        audit.requestedAccount = callerString(idTokenAccountOf(req.path));
        status = sendGoogleError(res, err);
      } else {
        status = sendOAuthError(res, err, sentBasic(req));
      }
      trail.deny(audit, status, err, route === undefined);
    },
  );

  return app;
}

/** 405 with the methods the route allows (RFC 9110 §15.5.6). */
function methodNotAllowed(
  res: Response,
  next: NextFunction,
  allow: readonly string[],
): void {
  res.setHeader('Allow', allow.join(', '));
  next(
    new TvmError('ERR_METHOD_NOT_ALLOWED', 'method not allowed on this route'),
  );
}

/** What /healthz may say publicly: the kind of failure, not the policy's contents. */
function publicReason(reason: string | undefined): string {
  if (!reason) return 'no policy';
  if (reason.startsWith('invalid policy'))
    return 'the policy failed validation; see the logs';
  return reason.replace(/:.*$/s, '');
}
