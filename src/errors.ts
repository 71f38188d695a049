/**
 * The one error model of tvm. Every refusal inside the service is a TvmError with a
 * code from this union; `src/http/errors.ts` is the only place that maps a code to an
 * HTTP status and an OAuth 2.0 error (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707).
 */

export type TvmErrorCode =
  | 'ERR_INVALID_REQUEST'
  | 'ERR_UNSUPPORTED_GRANT_TYPE'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_INVALID_CLIENT'
  | 'ERR_INVALID_GRANT'
  | 'ERR_INVALID_TARGET'
  | 'ERR_INVALID_SCOPE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_UPSTREAM_REFUSED'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_POLICY_UNAVAILABLE'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_INTERNAL';

export interface TvmErrorOptions {
  /**
   * What the operator needs to know: goes to logs and the audit record, never to the
   * caller. Must not contain secrets (tokens, keys, assertions).
   */
  detail?: string;
  /** Seconds after which a retry may succeed (503 and 429). */
  retryAfterSeconds?: number;
  /** For 401 with HTTP Basic: answer with `WWW-Authenticate: Basic realm="tvm"`. */
  basicChallenge?: boolean;
  /** For 405: the methods the route allows. */
  allow?: readonly string[];
  cause?: unknown;
}

/**
 * A refusal with a stable code. `message` is the description for the caller: it must
 * be useful to fix the request but never reveal whether a client exists, which part of
 * a secret was wrong, or anything about other clients.
 */
export class TvmError extends Error {
  readonly code: TvmErrorCode;
  readonly detail: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly basicChallenge: boolean;
  readonly allow: readonly string[] | undefined;

  constructor(
    code: TvmErrorCode,
    message: string,
    options: TvmErrorOptions = {},
  ) {
    super(
      message,
      options.cause === undefined ? undefined : {cause: options.cause},
    );
    this.name = new.target.name;
    this.code = code;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.basicChallenge = options.basicChallenge ?? false;
    this.allow = options.allow;
  }
}

/** True when `e` is a TvmError with one of the given codes (any code when none given). */
export function isTvmError(
  e: unknown,
  ...codes: TvmErrorCode[]
): e is TvmError {
  return (
    e instanceof TvmError && (codes.length === 0 || codes.includes(e.code))
  );
}

/** One problem found in a policy document, named by its path in the document. */
export interface PolicyIssue {
  /** A JSON-pointer-like path, e.g. `clients.nightly-export.allow[0].scopes[1]`. */
  readonly path: string;
  readonly message: string;
}

/** A policy that failed to parse or compile; carries every issue found, not only the first. */
export class PolicyError extends Error {
  readonly code = 'ERR_POLICY_INVALID' as const;
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[], source?: string) {
    const head = source ? `invalid policy ${source}` : 'invalid policy';
    super(
      `${head}: ${issues.map(i => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    );
    this.name = new.target.name;
    this.issues = Object.freeze([...issues]);
  }
}

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID' as const;
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = new.target.name;
    this.variable = variable;
  }
}
