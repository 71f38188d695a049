/**
 * The HTTP surface: POST /token, the IAM Credentials-shaped generateAccessToken and
 * generateIdToken, GET /healthz (and /health), JSON 404/405 for the rest. One request
 * listener on Node's own request and response: src/request-guard.ts hands it every
 * request once the body is read, and it is also registered as the `tvm` function, so
 * functions-framework could serve it too. Every error leaves through the one mapping
 * of its surface (src/http/errors.ts); nothing escapes.
 *
 * Routes are matched as Express matched them when this was an Express app: `/token`,
 * `/healthz` and `/health` in any case and with or without a trailing slash, the IAM
 * paths exactly; the per-IP limit comes before anything else a token route reads.
 */
import type {IncomingMessage, ServerResponse} from 'node:http';
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
import {
  beginAudit,
  clientAddress,
  sentBasic,
  targetPath,
  type Exchange,
} from './request.ts';
import {sendJson} from './respond.ts';
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

/**
 * tvm as a request listener. `rawBody`: the body, already read and capped (by
 * src/request-guard.ts, or by functions-framework's parsers); read here when absent.
 */
export type App = (
  req: IncomingMessage & {rawBody?: Buffer},
  res: ServerResponse,
) => void;

const TOKEN_PATH = /^\/token\/?$/i;
// /healthz as Cloud Functions users expect it; /health too, since Cloud Run's own
// front end reserves some paths that end in `z`.
const HEALTH_PATH = /^\/healthz?\/?$/i;

/** Builds the listener that serves tvm. */
export function createApp(deps: AppDeps): App {
  const {policies, limiters, trail, monotonic, trustedProxyHops} = deps;
  const handleToken = createTokenEndpoint(deps);
  const handleGenerateAccessToken = createIamEndpoint(deps);
  const handleGenerateIdToken = createIamIdTokenEndpoint(deps);

  /**
   * Refusals before a handler ran (405, the per-IP limit, 404), in the route's shape,
   * each audited: those on tvm's routes as decisions, the rest (a scanner's probes of
   * paths tvm does not serve) at a lower severity.
   */
  const refuse = (x: Exchange, route: TokenRoute | undefined, err: unknown) => {
    if (x.res.headersSent) return;
    const audit = beginAudit(trail, x);
    let status: number;
    if (route === 'iam') {
      audit.grantType = generateAccessTokenGrant.name;
      audit.requestedAccount = callerString(accountOf(x.path));
      status = sendGoogleError(x.res, err);
    } else if (route === 'iam-id') {
      audit.grantType = generateIdTokenGrant.name;
      audit.requestedAccount = callerString(idTokenAccountOf(x.path));
      status = sendGoogleError(x.res, err);
    } else {
      status = sendOAuthError(x.res, err, sentBasic(x.req));
    }
    trail.deny(audit, status, err, route === undefined);
  };

  /** A token route: POST only, the per-IP limit before anything else is read. */
  const tokenRoute = (
    x: Exchange,
    route: TokenRoute,
    handle: (x: Exchange) => void,
  ) => {
    if (x.req.method !== 'POST') {
      methodNotAllowed(x, route, ['POST']);
      return;
    }
    const pending = limiters.perIp(x.res, x.ip);
    if (pending === undefined) handle(x);
    else
      pending.then(
        () => handle(x),
        (e: unknown) => refuse(x, route, e),
      );
  };

  const health = (x: Exchange) => {
    if (x.req.method !== 'GET' && x.req.method !== 'HEAD') {
      methodNotAllowed(x, undefined, ['GET', 'HEAD']);
      return;
    }
    const s = policies.status();
    x.res.setHeader('Cache-Control', 'no-store');
    if (s.ok) {
      sendJson(x.res, 200, {status: 'ok'});
    } else {
      sendJson(x.res, 503, {
        status: 'unavailable',
        reason: publicReason(s.reason),
      });
    }
  };

  /** 405 with the methods the route allows (RFC 9110 §15.5.6). */
  const methodNotAllowed = (
    x: Exchange,
    route: TokenRoute | undefined,
    allow: readonly string[],
  ) => {
    x.res.setHeader('Allow', allow.join(', '));
    refuse(
      x,
      route,
      new TvmError(
        'ERR_METHOD_NOT_ALLOWED',
        'method not allowed on this route',
      ),
    );
  };

  return function tvm(req, res) {
    const x: Exchange = {
      req,
      res,
      path: targetPath(req.url),
      ip: clientAddress(req, trustedProxyHops),
      // Latency in the audit record is measured from here.
      startedAt: monotonic.now(),
    };
    res.setHeader('X-Content-Type-Options', 'nosniff');
    let route: TokenRoute | undefined;
    try {
      const {path} = x;
      // The common request first, by its usual spelling.
      if (path === '/token' || TOKEN_PATH.test(path)) {
        route = 'token';
        tokenRoute(x, route, handleToken);
      } else if (GENERATE_ACCESS_TOKEN_PATH.test(path)) {
        route = 'iam';
        tokenRoute(x, route, x => void handleGenerateAccessToken(x));
      } else if (GENERATE_ID_TOKEN_PATH.test(path)) {
        route = 'iam-id';
        tokenRoute(x, route, x => void handleGenerateIdToken(x));
      } else if (HEALTH_PATH.test(path)) {
        health(x);
      } else {
        refuse(x, undefined, new TvmError('ERR_NOT_FOUND', 'no such route'));
      }
    } catch (e) {
      // The per-IP limit refuses by throwing; the handlers answer every outcome
      // themselves, so anything else here is a fault, answered 500.
      refuse(x, route, e);
    }
  };
}

/** What /healthz may say publicly: the kind of failure, not the policy's contents. */
function publicReason(reason: string | undefined): string {
  if (!reason) return 'no policy';
  if (reason.startsWith('invalid policy'))
    return 'the policy failed validation; see the logs';
  return reason.replace(/:.*$/s, '');
}
