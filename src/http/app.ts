/**
 * The HTTP surface (contract.md): POST /token, GET /healthz, JSON 404/405 for the
 * rest. An express app handed to functions-framework as the `tvm` function; every
 * error leaves through `sendError`, nothing escapes to the framework.
 */
import {randomUUID} from 'node:crypto';
import express, {type NextFunction, type Request, type Response} from 'express';
import {writeAudit, callerString, type AuditRecord} from '../audit.ts';
import {createHash} from 'node:crypto';
import {authenticateApiKey} from '../auth/api-key.ts';
import {authenticateAssertion} from '../auth/client-assertion.ts';
import {
  readClientCredentials,
  type ClientCredentials,
} from '../auth/client-credentials.ts';
import {
  createMemoryReplayStore,
  type ReplayStore,
} from '../auth/replay-store.ts';
import {authorize, type AccessRequest} from '../authorize.ts';
import type {Clock} from '../clock.ts';
import type {Config} from '../config.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import type {Logger} from '../log.ts';
import type {Minter} from '../mint/minter.ts';
import {JwtRejected, KeysUnavailable} from '../oidc/errors.ts';
import {inspectJwt} from '../oidc/jws.ts';
import {createKeyResolver, type KeyResolver} from '../oidc/keys.ts';
import {
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  authenticateSubjectToken,
  type SubjectIdentity,
} from '../oidc/subject-token.ts';
import type {PolicySource} from '../policy-source.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {monotonicNow} from '../google/upstream.ts';
import {mapError, sendError} from './errors.ts';
import {
  GENERATE_ACCESS_TOKEN_PATH,
  generateAccessTokenResponse,
  readGenerateAccessToken,
  sendGoogleError,
} from './google-shape.ts';
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
  /**
   * Verification keys of OIDC issuers and assertion signers (default: fetched with
   * the global fetch, default bounds and cache).
   */
  readonly keys?: KeyResolver;
  /** Where used client-assertion ids are remembered (default: in memory). */
  readonly replay?: ReplayStore;
}

/** How a grant was asked for: the OAuth token endpoint, or the IAM Credentials shape. */
type Surface = 'oauth' | 'google';

type Audit = {-readonly [K in keyof AuditRecord]: AuditRecord[K]};

/** Builds the express app that serves tvm. */
export function createApp(deps: AppDeps): express.Express {
  const {config, policies, clock, logger} = deps;
  const keys = deps.keys ?? createKeyResolver({fetch: globalThis.fetch, clock});
  const replay = deps.replay ?? createMemoryReplayStore({clock});
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

  app.all(GENERATE_ACCESS_TOKEN_PATH, (req, res, next) => {
    if (req.method !== 'POST') {
      next(methodNotAllowed(['POST']));
      return;
    }
    limiters.perIp(req, res, next);
  });
  app.post(GENERATE_ACCESS_TOKEN_PATH, (req, res) => {
    void handleGenerateAccessToken(req, res);
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
      const google = GENERATE_ACCESS_TOKEN_PATH.test(req.path);
      const status = google ? sendGoogleError(res, err) : sendError(res, err);
      if (req.path === '/token' || google) {
        writeAudit(logger, {
          ...emptyAudit(req),
          ...denial(err),
          http: httpOf(req, status, 0),
        });
      }
      if (status >= 500) logUnexpected(err);
    },
  );

  /** POST /token, RFC 6749 §3.2 / §4.4, RFC 8693 §2. */
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
      let policy: CompiledPolicy;
      let client: Client;
      if (grantType === GRANT_CLIENT_CREDENTIALS) {
        policy = await policyInForce();
        const creds = readClientCredentials(req.headers.authorization, params);
        audit.authMethod = authMethodOf(creds);
        audit.client = callerString(creds.clientId);
        client = await authenticate(policy, creds, req);
      } else if (grantType === GRANT_TOKEN_EXCHANGE) {
        policy = await policyInForce();
        client = await exchange(policy, params, req, audit);
      } else {
        throw new TvmError(
          'ERR_UNSUPPORTED_GRANT_TYPE',
          'this grant type is not supported',
        );
      }
      audit.client = client.id;
      await limiters.perClient(req, res, client.id);

      const audience = params.get('audience');
      if (audience === undefined) {
        throw new TvmError(
          'ERR_INVALID_REQUEST',
          'audience is required: a service account alias or email',
        );
      }
      const minted = await grantAndMint(policy, client, audit, {
        audience,
        scope: params.get('scope'),
        lifetimeSeconds: parseLifetime(params.get('lifetime')),
      });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({
        access_token: minted.accessToken,
        token_type: 'Bearer',
        expires_in: minted.expiresIn,
        scope: minted.scopes.join(' '),
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      });
      allowed(req, audit, started);
    } catch (e) {
      denied(req, res, audit, started, e, 'oauth');
    }
  }

  /**
   * POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken: the IAM
   * Credentials API's request and answer, the caller authenticated by a bearer API
   * key or OIDC token, under the same policy, minter and audit as /token.
   */
  async function handleGenerateAccessToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const started = performance.now();
    const audit: Audit = emptyAudit(req);
    audit.grantType = 'iamcredentials.generateAccessToken';
    try {
      const email = decodeURIComponent(
        GENERATE_ACCESS_TOKEN_PATH.exec(req.path)![1]!,
      );
      const policy = await policyInForce();
      const client = await authenticateBearer(policy, req, audit);
      audit.client = client.id;
      await limiters.perClient(req, res, client.id);
      const body = await readGenerateAccessToken(req);
      const minted = await grantAndMint(policy, client, audit, {
        audience: email,
        scope: body.scope,
        lifetimeSeconds: body.lifetimeSeconds,
      });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res
        .status(200)
        .json(
          generateAccessTokenResponse(minted.accessToken, minted.expiresAt),
        );
      allowed(req, audit, started);
    } catch (e) {
      denied(req, res, audit, started, e, 'google');
    }
  }

  /** The decision (authorize) and the token (minter), recorded in `audit`. */
  async function grantAndMint(
    policy: CompiledPolicy,
    client: Client,
    audit: Audit,
    request: AccessRequest,
  ): Promise<{
    accessToken: string;
    expiresAt: number;
    expiresIn: number;
    scopes: readonly string[];
  }> {
    const decision = authorize(policy, client, request);
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
    Object.assign(audit, {
      tokenSha256: fingerprint(token.accessToken),
      cached: token.cached,
      expiresIn,
    });
    return {
      accessToken: token.accessToken,
      expiresAt: token.expiresAt,
      expiresIn,
      scopes: decision.scopes,
    };
  }

  function allowed(req: Request, audit: Audit, started: number): void {
    audit.decision = 'allow';
    audit.reason = 'granted';
    audit.http = httpOf(req, 200, performance.now() - started);
    writeAudit(logger, audit);
  }

  function denied(
    req: Request,
    res: Response,
    audit: Audit,
    started: number,
    e: unknown,
    surface: Surface,
  ): void {
    if (res.headersSent) return;
    const status =
      surface === 'google' ? sendGoogleError(res, e) : sendError(res, e);
    Object.assign(audit, denial(e));
    audit.http = httpOf(req, status, performance.now() - started);
    writeAudit(logger, audit);
    if (status >= 500) logUnexpected(e);
  }

  /**
   * RFC 8693 token exchange: the subject token authenticates the client. Client
   * authentication is optional (an external_account configuration with client_id and
   * client_secret sends Basic); when present, it must name the same client as the
   * subject token.
   */
  async function exchange(
    policy: CompiledPolicy,
    params: ReadonlyMap<string, string>,
    req: Request,
    audit: Audit,
  ): Promise<Client> {
    const subjectToken = params.get('subject_token');
    const tokenType = params.get('subject_token_type');
    if (subjectToken === undefined || tokenType === undefined) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'subject_token and subject_token_type are required',
      );
    }
    if (tokenType !== TOKEN_TYPE_JWT && tokenType !== TOKEN_TYPE_ID_TOKEN) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `subject_token_type must be ${TOKEN_TYPE_JWT} or ${TOKEN_TYPE_ID_TOKEN}`,
      );
    }
    const requested = params.get('requested_token_type');
    if (requested !== undefined && requested !== TOKEN_TYPE_ACCESS_TOKEN) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}`,
      );
    }
    if (params.has('actor_token') || params.has('actor_token_type')) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'actor_token (delegation) is not supported',
      );
    }
    audit.authMethod = 'subject_token';
    let authenticated: Client | undefined;
    if (
      req.headers.authorization !== undefined ||
      params.has('client_secret') ||
      params.has('client_assertion') ||
      params.has('client_assertion_type')
    ) {
      const creds = readClientCredentials(req.headers.authorization, params);
      audit.authMethod = `subject_token+${authMethodOf(creds)}`;
      audit.client = callerString(creds.clientId);
      authenticated = await authenticate(policy, creds, req);
    }
    const named = authenticated?.id ?? params.get('client_id');
    const identity = await verifySubject(policy, subjectToken, audit, named, {
      authenticated: authenticated !== undefined,
    });
    if (named !== undefined && named !== identity.client.id) {
      throw new TvmError(
        'ERR_INVALID_GRANT',
        'the subject token does not authenticate the client named in this request',
        {
          detail: `client ${callerString(named)} named, subject token is client ${identity.client.id}`,
        },
      );
    }
    checkSourceRange(identity.client, req, false);
    return identity.client;
  }

  async function verifySubject(
    policy: CompiledPolicy,
    token: string,
    audit: Audit,
    named: string | undefined,
    opts: {authenticated: boolean},
  ): Promise<SubjectIdentity> {
    try {
      // Who the token claims to be, for the audit of a refusal (replaced below by the
      // verified values when it is accepted).
      const {payload} = inspectJwt(token);
      audit.issuer = claimString(payload.iss);
      audit.subject = claimString(payload.sub);
    } catch {
      // The same check runs again inside authenticateSubjectToken and explains itself.
    }
    try {
      const identity = await authenticateSubjectToken(
        policy,
        token,
        {keys, clock},
        named === undefined
          ? undefined
          : {clientId: named, authenticated: opts.authenticated},
      );
      audit.issuer = identity.issuer;
      audit.subject = callerString(identity.subject);
      return identity;
    } catch (e) {
      if (e instanceof JwtRejected) {
        throw new TvmError('ERR_INVALID_GRANT', e.message, {
          detail: `subject_token ${e.reason}${e.detail ? `: ${e.detail}` : ''}`,
        });
      }
      if (e instanceof KeysUnavailable) {
        throw new TvmError(
          'ERR_UPSTREAM_UNAVAILABLE',
          "the subject token's issuer keys could not be fetched; retry later",
          {detail: e.detail, retryAfterSeconds: 5},
        );
      }
      throw e;
    }
  }

  /**
   * `Authorization: Bearer <API key or OIDC token>` on the IAM Credentials route. An
   * API key alone names no client, so it is looked up by its SHA-256 (a map lookup
   * on the hash of a 256-bit random key: timing can reveal nothing usable about a key).
   */
  async function authenticateBearer(
    policy: CompiledPolicy,
    req: Request,
    audit: Audit,
  ): Promise<Client> {
    const m = /^Bearer[ ]+([\x21-\x7e]{1,8192})[ ]*$/i.exec(
      req.headers.authorization ?? '',
    );
    if (!m) {
      throw new TvmError(
        'ERR_INVALID_CLIENT',
        'Request is missing required authentication credential. Expected an API key or an OIDC token as a bearer.',
      );
    }
    const credential = m[1]!;
    if (credential.split('.').length === 3) {
      audit.authMethod = 'bearer_subject_token';
      const identity = await verifySubject(
        policy,
        credential,
        audit,
        undefined,
        {
          authenticated: false,
        },
      );
      checkSourceRange(identity.client, req, false);
      return identity.client;
    }
    audit.authMethod = 'bearer_api_key';
    const hash = createHash('sha256').update(credential, 'utf8').digest();
    const client = policy.clientsByApiKey.get(hash.toString('hex'));
    const key = client?.apiKeys.find(k => k.sha256.equals(hash));
    if (
      !client ||
      !key ||
      (key.expiresAt !== undefined && clock.now() >= key.expiresAt)
    ) {
      throw new TvmError('ERR_INVALID_CLIENT', 'The credential is not valid.', {
        detail: !client ? 'unknown key' : 'expired key',
      });
    }
    checkSourceRange(client, req, false);
    return client;
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

  async function authenticate(
    policy: CompiledPolicy,
    creds: ClientCredentials,
    req: Request,
  ): Promise<Client> {
    const client =
      creds.method === 'assertion'
        ? await authenticateAssertion(policy, creds.clientId, creds.assertion, {
            issuer: config.issuer,
            keys,
            replay,
            clock,
          })
        : authenticateApiKey(
            policy,
            creds.clientId,
            creds.secret,
            clock.now(),
            creds.method === 'basic',
          );
    checkSourceRange(client, req, creds.method === 'basic');
    return client;
  }

  function checkSourceRange(client: Client, req: Request, basic: boolean) {
    if (client.sourceRanges.length === 0) return;
    const ip = req.ip ?? '';
    if (!client.sourceRanges.some(r => r.contains(ip))) {
      throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
        basicChallenge: basic,
        detail: 'source address outside the client source_ranges',
      });
    }
  }

  function emptyAudit(req: Request): Audit {
    return {
      requestId: randomUUID(),
      trace: traceOf(req),
      decision: 'deny',
      reason: 'ERR_INTERNAL',
      detail: undefined,
      client: undefined,
      issuer: undefined,
      subject: undefined,
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

function authMethodOf(creds: ClientCredentials): string {
  return creds.method === 'assertion' ? 'private_key_jwt' : creds.method;
}

/** A claim as the audit may hold it: encoded and cut short, strings only. */
function claimString(v: unknown): string | undefined {
  return typeof v === 'string' ? callerString(v) : undefined;
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
