/**
 * The audit trail: one structured line per token decision, whichever route it came
 * by, in Cloud Logging's format — who, what, the decision and its reason, and a
 * fingerprint of the token handed out, never the token, a key or a credential. A
 * record is begun when the request arrives, filled in as authentication and the
 * decision proceed, and written once when the answer is sent.
 */
import {randomUUID} from 'node:crypto';
import type {MonotonicClock} from './clock.ts';
import {TvmError} from './errors.ts';
import {lineWriter, type LineWriter, type Logger} from './log.ts';
import {callerString} from './text.ts';

/** What the audit needs to know of the HTTP request (no HTTP library type). */
export interface RequestFacts {
  readonly method: string;
  readonly path: string;
  readonly remoteIp: string | undefined;
  readonly userAgent: string | undefined;
  /** The `X-Cloud-Trace-Context` header, when sent. */
  readonly traceContext: string | undefined;
  /** Monotonic ms at which the request arrived. */
  readonly startedAt: number;
}

export interface AuditRecord {
  readonly requestId: string;
  /** `projects/P/traces/T` or the bare trace id when the project is unknown. */
  readonly trace: string | undefined;
  readonly decision: 'allow' | 'deny';
  /** 'granted', or the error code of the refusal. */
  readonly reason: string;
  /** Operator-facing detail of a refusal (no secrets). */
  readonly detail: string | undefined;
  /** The authenticated client, or the claimed id (encoded) when authentication failed. */
  readonly client: string | undefined;
  /** For OIDC callers: the subject token's issuer (encoded when not yet verified). */
  readonly issuer: string | undefined;
  /** For OIDC callers: the subject token's `sub`, encoded. */
  readonly subject: string | undefined;
  readonly authMethod: string | undefined;
  readonly grantType: string | undefined;
  /** The account the request names (alias or email, encoded), before any decision. */
  readonly requestedAccount: string | undefined;
  /** The account decided on. */
  readonly serviceAccount: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly lifetimeSeconds: number | undefined;
  /** Domain-wide delegation: the user the token acts for (as asked, encoded, on a refusal). */
  readonly delegatedSubject: string | undefined;
  /** A downscoped token's Credential Access Boundary, by fingerprint and resources. */
  readonly accessBoundary: AuditBoundary | undefined;
  readonly tokenSha256: string | undefined;
  readonly cached: boolean | undefined;
  readonly expiresIn: number | undefined;
  /** For an ID token: the audience asked for (encoded), and whether it carries the email. */
  readonly targetAudience: string | undefined;
  readonly includeEmail: boolean | undefined;
  readonly http: {
    readonly method: string;
    readonly path: string;
    readonly status: number;
    readonly remoteIp: string | undefined;
    readonly userAgent: string | undefined;
    readonly latencyMs: number;
  };
}

/** What the audit says of a Credential Access Boundary (never its conditions). */
export interface AuditBoundary {
  /** The first 16 hex digits of the SHA-256 of its normalised JSON. */
  readonly sha256: string;
  /** True when the caller asked for it; false when the grant forced it. */
  readonly requested: boolean;
  readonly resources: readonly string[];
}

/** An audit record being filled in, with the monotonic time its request arrived. */
export type Audit = {-readonly [K in keyof AuditRecord]: AuditRecord[K]} & {
  readonly startedAt: number;
};

export interface AuditTrail {
  /** A fresh record for the request: a deny with no reason until told otherwise. */
  begin(request: RequestFacts): Audit;
  /** Writes `audit` as granted. */
  allow(audit: Audit): void;
  /**
   * Writes `audit` as refused with `e`, answered with `status`; a 5xx also gets the
   * operator's log line. `quiet`: a request no route of tvm takes (a scanner's
   * probe), logged at a lower severity so probes do not drown the decisions.
   */
  deny(audit: Audit, status: number, e: unknown, quiet?: boolean): void;
  /** The operator's log line for a 5xx that no audit record carries. */
  unexpected(e: unknown): void;
}

export interface AuditTrailDeps {
  readonly logger: Logger;
  readonly monotonic: MonotonicClock;
  /** The Google project, for trace ids; undefined while unknown. */
  readonly projectId?: () => string | undefined;
}

/** Creates the audit trail writing to `logger`. */
export function createAuditTrail(deps: AuditTrailDeps): AuditTrail {
  const {logger, monotonic} = deps;
  const write = lineWriter(logger);
  const traceOf = (header: string | undefined): string | undefined => {
    const m = header ? /^([0-9a-f]{32})(?:\/|$)/i.exec(header) : null;
    if (!m) return undefined;
    const project = deps.projectId?.();
    return project ? `projects/${project}/traces/${m[1]}` : m[1];
  };
  const finish = (audit: Audit, status: number, quiet = false) => {
    audit.http = {
      ...audit.http,
      status,
      latencyMs: monotonic.now() - audit.startedAt,
    };
    writeAudit(write, audit, quiet);
  };
  /** The operator's log line for a 5xx. */
  const unexpected = (e: unknown) => {
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
  };
  return {
    begin(request) {
      return {
        startedAt: request.startedAt,
        requestId: randomUUID(),
        trace: traceOf(request.traceContext),
        decision: 'deny',
        reason: 'ERR_INTERNAL',
        detail: undefined,
        client: undefined,
        issuer: undefined,
        subject: undefined,
        authMethod: undefined,
        grantType: undefined,
        requestedAccount: undefined,
        serviceAccount: undefined,
        scopes: undefined,
        lifetimeSeconds: undefined,
        delegatedSubject: undefined,
        accessBoundary: undefined,
        tokenSha256: undefined,
        cached: undefined,
        expiresIn: undefined,
        targetAudience: undefined,
        includeEmail: undefined,
        http: {
          method: request.method,
          path: request.path,
          status: 0,
          remoteIp: request.remoteIp,
          userAgent: request.userAgent,
          latencyMs: 0,
        },
      };
    },
    allow(audit) {
      audit.decision = 'allow';
      audit.reason = 'granted';
      finish(audit, 200);
    },
    deny(audit, status, e, quiet) {
      audit.decision = 'deny';
      audit.reason = e instanceof TvmError ? e.code : 'ERR_INTERNAL';
      audit.detail = e instanceof TvmError ? e.detail : undefined;
      finish(audit, status, quiet);
      // A failure already told with a line of its own is not told again per request.
      if (status >= 500 && !(e instanceof TvmError && e.reported)) {
        unexpected(e);
      }
    },
    unexpected,
  };
}

/**
 * Writes one audit record: serialized here, straight to the log stream. Every field is
 * tvm's own or already encoded (src/text.ts); none can hold a secret.
 */
function writeAudit(write: LineWriter, r: AuditRecord, quiet: boolean): void {
  const line = {
    httpRequest: {
      requestMethod: r.http.method,
      requestUrl: callerString(r.http.path),
      status: r.http.status,
      remoteIp: r.http.remoteIp,
      userAgent: callerString(r.http.userAgent),
      latency: `${(r.http.latencyMs / 1000).toFixed(3)}s`,
    },
    ...(r.trace ? {'logging.googleapis.com/trace': r.trace} : {}),
    'logging.googleapis.com/labels': {type: 'audit'},
    audit: {
      requestId: r.requestId,
      decision: r.decision,
      reason: r.reason,
      detail: r.detail,
      client: r.client,
      issuer: r.issuer,
      subject: r.subject,
      authMethod: r.authMethod,
      grantType: r.grantType,
      requestedAccount: r.requestedAccount,
      serviceAccount: r.serviceAccount,
      scopes: r.scopes,
      lifetimeSeconds: r.lifetimeSeconds,
      delegatedSubject: r.delegatedSubject,
      accessBoundary: r.accessBoundary,
      tokenSha256: r.tokenSha256,
      cached: r.cached,
      expiresIn: r.expiresIn,
      targetAudience: r.targetAudience,
      includeEmail: r.includeEmail,
    },
  };
  const fields = JSON.stringify(line).slice(1, -1);
  if (r.decision === 'allow') write('info', fields, 'token granted');
  else write(quiet ? 'info' : 'warn', fields, `token denied: ${r.reason}`);
}
