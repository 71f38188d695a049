/**
 * The HTTP surface (contract.md): POST /token, GET /healthz, JSON 404/405 for the
 * rest. An express app handed to functions-framework as the `tvm` function; every
 * error leaves through `sendError`, nothing escapes to the framework.
 */
import {randomUUID} from 'node:crypto';
import express, {type NextFunction, type Request, type Response} from 'express';
import {writeAudit, callerString, type AuditRecord} from '../audit.ts';
import {authenticateApiKey} from '../auth/api-key.ts';
import {
  readClientCredentials,
  type ClientCredentials,
} from '../auth/client-credentials.ts';
import {authorize} from '../authorize.ts';
import type {Clock} from '../clock.ts';
import type {Config} from '../config.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import type {Logger} from '../log.ts';
import type {Minter} from '../mint/minter.ts';
import type {PolicySource} from '../policy-source.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {monotonicNow} from '../google/upstream.ts';
import {mapError, sendError} from './errors.ts';
import {createRateLimiters, type RateLimitStoreFactory} from './rate-limit.ts';
import {parseLifetime, readTokenParams} from './token-request.ts';

export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_TOKEN_EXCHANGE =
  'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_ACCESS_TOKEN =
  'urn:ietf:params:oauth:token-type:access_token';

/** Time a request may spend minting, well inside the platform's own timeout. */
export const DEFAULT_MINT_DEADLINE_MS = 15_000;

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
}

type Audit = {-readonly [K in keyof AuditRecord]: AuditRecord[K]};

/** Builds the express app that serves tvm. */
export function createApp(deps: AppDeps): express.Express {
  const {config, policies, clock, logger} = deps;
  const limiters = createRateLimiters({
    perIp: config.rateLimitPerIp,
    perClient: config.rateLimitPerClient,
    store: deps.rateLimitStore,
  });

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

  app.all('/token', (req, res, next) => {
    if (req.method !== 'POST') {
      next(methodNotAllowed(['POST']));
      return;
    }
    limiters.perIp(req, res, next);
  });
  app.post('/token', (req, res) => {
    void handleToken(req, res);
  });

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

  app.use(
    // Express recognises an error handler by its four parameters.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) return;
      const status = sendError(res, err);
      if (req.path === '/token') {
        writeAudit(logger, {
          ...emptyAudit(req),
          ...denial(err),
          http: httpOf(req, status, 0),
        });
      }
      if (status >= 500) logUnexpected(err);
    },
  );

  /** POST /token, RFC 6749 §3.2 / §4.4. */
  async function handleToken(req: Request, res: Response): Promise<void> {
    const started = performance.now();
    const audit: Audit = emptyAudit(req);
    try {
      const params = await readTokenParams(req);
      const grantType = params.get('grant_type');
      audit.grantType = callerString(grantType);
      if (grantType === undefined) {
        throw new TvmError('ERR_INVALID_REQUEST', 'grant_type is required');
      }
      if (grantType !== GRANT_CLIENT_CREDENTIALS) {
        throw new TvmError(
          'ERR_UNSUPPORTED_GRANT_TYPE',
          'this grant type is not supported',
        );
      }
      const policy = await policyInForce();
      const creds = readClientCredentials(req.headers.authorization, params);
      audit.authMethod = creds.method;
      audit.client = callerString(creds.clientId);
      const client = authenticate(policy, creds, req);
      audit.client = client.id;
      await limiters.perClient(req, res, client.id);

      const audience = params.get('audience');
      if (audience === undefined) {
        throw new TvmError(
          'ERR_INVALID_REQUEST',
          'audience is required: a service account alias or email',
        );
      }
      const decision = authorize(policy, client, {
        audience,
        scope: params.get('scope'),
        lifetimeSeconds: parseLifetime(params.get('lifetime')),
      });
      audit.serviceAccount = decision.serviceAccount.email;
      audit.scopes = decision.scopes;
      audit.lifetimeSeconds = decision.lifetimeSeconds;

      const token = await deps.minter.mint({
        serviceAccount: decision.serviceAccount,
        scopes: decision.scopes,
        lifetimeSeconds: decision.lifetimeSeconds,
        deadline:
          monotonicNow() + (deps.mintDeadlineMs ?? DEFAULT_MINT_DEADLINE_MS),
      });
      const expiresIn = Math.floor((token.expiresAt - clock.now()) / 1000);
      if (expiresIn <= 0) {
        throw new TvmError(
          'ERR_UPSTREAM_UNAVAILABLE',
          'Google is temporarily unavailable; retry later',
          {
            detail: 'token expired before it could be handed out',
            retryAfterSeconds: 1,
          },
        );
      }
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({
        access_token: token.accessToken,
        token_type: 'Bearer',
        expires_in: expiresIn,
        scope: decision.scopes.join(' '),
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      });
      Object.assign(audit, {
        decision: 'allow',
        reason: 'granted',
        tokenSha256: fingerprint(token.accessToken),
        cached: token.cached,
        expiresIn,
      });
      audit.http = httpOf(req, 200, performance.now() - started);
      writeAudit(logger, audit);
    } catch (e) {
      if (res.headersSent) return;
      const status = sendError(res, e);
      Object.assign(audit, denial(e));
      audit.http = httpOf(req, status, performance.now() - started);
      writeAudit(logger, audit);
      if (status >= 500) logUnexpected(e);
    }
  }

  async function policyInForce(): Promise<CompiledPolicy> {
    await policies.ready();
    const policy = policies.current();
    if (!policy) {
      throw new TvmError(
        'ERR_POLICY_UNAVAILABLE',
        'the service has no valid policy; retry later',
        {
          retryAfterSeconds: 30,
          detail: policies.status().reason,
        },
      );
    }
    return policy;
  }

  function authenticate(
    policy: CompiledPolicy,
    creds: ClientCredentials,
    req: Request,
  ): Client {
    if (creds.method === 'assertion') {
      throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
        detail: 'client assertions are not accepted for this client',
      });
    }
    const client = authenticateApiKey(
      policy,
      creds.clientId,
      creds.secret,
      clock.now(),
      creds.method === 'basic',
    );
    if (client.sourceRanges.length > 0) {
      const ip = req.ip ?? '';
      if (!client.sourceRanges.some(r => r.contains(ip))) {
        throw new TvmError(
          'ERR_INVALID_CLIENT',
          'client authentication failed',
          {
            basicChallenge: creds.method === 'basic',
            detail: 'source address outside the client source_ranges',
          },
        );
      }
    }
    return client;
  }

  function emptyAudit(req: Request): Audit {
    return {
      requestId: randomUUID(),
      trace: traceOf(req),
      decision: 'deny',
      reason: 'ERR_INTERNAL',
      detail: undefined,
      client: undefined,
      authMethod: undefined,
      grantType: undefined,
      serviceAccount: undefined,
      scopes: undefined,
      lifetimeSeconds: undefined,
      tokenSha256: undefined,
      cached: undefined,
      expiresIn: undefined,
      http: httpOf(req, 0, 0),
    };
  }

  function traceOf(req: Request): string | undefined {
    const h = req.headers['x-cloud-trace-context'];
    const m = typeof h === 'string' ? /^([0-9a-f]{32})(?:\/|$)/i.exec(h) : null;
    if (!m) return undefined;
    const project = deps.projectId?.();
    return project ? `projects/${project}/traces/${m[1]}` : m[1];
  }

  function logUnexpected(e: unknown): void {
    if (e instanceof TvmError && e.code !== 'ERR_INTERNAL') {
      logger.error(
        {error: {code: e.code, detail: e.detail}},
        'upstream or policy failure',
      );
    } else {
      // The name only: messages of foreign errors may quote request data.
      logger.error(
        {error: {name: (e as Error)?.name ?? typeof e}},
        'unexpected error',
      );
    }
  }

  return app;
}

function methodNotAllowed(allow: readonly string[]): TvmError {
  return new TvmError(
    'ERR_METHOD_NOT_ALLOWED',
    'method not allowed on this route',
    {allow},
  );
}

function denial(e: unknown): Pick<Audit, 'decision' | 'reason' | 'detail'> {
  return {
    decision: 'deny',
    reason: e instanceof TvmError ? e.code : mapError(e).error,
    detail: e instanceof TvmError ? e.detail : undefined,
  };
}

function httpOf(
  req: Request,
  status: number,
  latencyMs: number,
): AuditRecord['http'] {
  return {
    method: req.method,
    path: req.path,
    status,
    remoteIp: req.ip,
    userAgent: req.headers['user-agent'],
    latencyMs,
  };
}

/** What /healthz may say publicly: the kind of failure, not the policy's contents. */
function publicReason(reason: string | undefined): string {
  if (!reason) return 'no policy';
  if (reason.startsWith('invalid policy'))
    return 'the policy failed validation; see the logs';
  return reason.replace(/:.*$/s, '');
}
