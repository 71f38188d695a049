/**
 * The audit record: one structured line per token decision, in Cloud Logging's
 * format, with who, what, the decision and its reason, and a fingerprint of the
 * token handed out — never the token, a key or a credential.
 */
import type {Logger} from './log.ts';

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
  readonly serviceAccount: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly lifetimeSeconds: number | undefined;
  readonly tokenSha256: string | undefined;
  readonly cached: boolean | undefined;
  readonly expiresIn: number | undefined;
  readonly http: {
    readonly method: string;
    readonly path: string;
    readonly status: number;
    readonly remoteIp: string | undefined;
    readonly userAgent: string | undefined;
    readonly latencyMs: number;
  };
}

/** Caller-supplied strings are cut short and JSON-encoded before they are logged. */
export function callerString(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  return JSON.stringify(s.length > 128 ? `${s.slice(0, 128)}…` : s).slice(
    1,
    -1,
  );
}

/** Writes one audit record. */
export function writeAudit(logger: Logger, r: AuditRecord): void {
  const line = {
    httpRequest: {
      requestMethod: r.http.method,
      requestUrl: r.http.path,
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
      serviceAccount: r.serviceAccount,
      scopes: r.scopes,
      lifetimeSeconds: r.lifetimeSeconds,
      tokenSha256: r.tokenSha256,
      cached: r.cached,
      expiresIn: r.expiresIn,
    },
  };
  const message =
    r.decision === 'allow' ? 'token granted' : `token denied: ${r.reason}`;
  if (r.decision === 'allow') logger.info(line, message);
  else logger.warn(line, message);
}
