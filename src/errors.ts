/**
 * The one error model of tvm. Every refusal, from JWT verification to the wire, is a
 * TvmError with a code from `REFUSALS`; each carries a caller-facing message (what the
 * caller may learn) and an operator-facing detail (for the audit record). Nothing here
 * knows HTTP: `src/http/errors.ts` is the only place that turns a code into a status,
 * an OAuth 2.0 error (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707) or Google's error
 * envelope. docs/errors.md is generated from this table and checked by the test suite.
 */

/** Every refusal code, with the situation it names (the documentation of each code). */
export const REFUSALS = Object.freeze({
  ERR_INVALID_REQUEST:
    'malformed request: a missing, repeated or malformed parameter, a bad lifetime, two client authentication methods, credentials in the URL',
  ERR_UNSUPPORTED_GRANT_TYPE: 'the grant type is not one tvm serves',
  ERR_UNSUPPORTED_MEDIA_TYPE:
    'the body is not form-encoded or JSON (as the route requires), or not UTF-8',
  ERR_PAYLOAD_TOO_LARGE: 'the body is larger than tvm reads (16 KiB)',
  ERR_INVALID_CLIENT:
    'client authentication failed: unknown client, wrong or expired key, bad or replayed assertion, address outside source_ranges',
  ERR_INVALID_GRANT:
    'the subject token is not valid: signature, issuer, audience, expiry, or a claim that does not meet the client conditions',
  ERR_JWT_REJECTED:
    'a JWT failed verification (inside tvm: the caller type that presented it turns it into invalid_grant or invalid_client)',
  ERR_KEYS_UNAVAILABLE:
    'the keys of an issuer or a partner could not be fetched (inside tvm: the caller type turns it into its own 503)',
  ERR_INVALID_TARGET:
    'the policy does not grant the requested service account to this client (for an ID token: or not for that audience, or not with the email; for a delegated token: or not for the subject named)',
  ERR_INVALID_SCOPE:
    'a requested scope is not granted (for a delegated token: not among the delegation scopes), or a requested access boundary is wider than the grant allows or not allowed at all',
  ERR_RATE_LIMITED: 'too many requests from this address or client',
  ERR_UPSTREAM_REFUSED:
    'Google refused to issue the token (permission missing, account or key disabled)',
  ERR_UPSTREAM_UNAVAILABLE:
    'Google failed or was too slow, or a store tvm needs is full or down: a retry may help',
  ERR_USER_CREDENTIAL_REFUSED:
    "Google refused a user's stored credential (refresh token expired or revoked, OAuth client gone, scopes beyond the user's consent): the operator must import a new one; tvm asks Google again only after a pause",
  ERR_POLICY_UNAVAILABLE: 'no valid policy is loaded',
  ERR_POLICY_INVALID:
    'a policy document failed validation (at load; never sent to a caller)',
  ERR_CONFIG_INVALID:
    'a configuration value cannot be used (at start; never sent to a caller)',
  ERR_NOT_FOUND: 'no such route',
  ERR_METHOD_NOT_ALLOWED: 'the route does not take this method',
  ERR_INTERNAL: 'anything unexpected: the caller learns nothing from inside',
} as const);

export type TvmErrorCode = keyof typeof REFUSALS;

export interface TvmErrorOptions {
  /**
   * What the operator needs to know: goes to logs and the audit record, never to the
   * caller. Must not contain secrets (tokens, keys, assertions).
   */
  detail?: string;
  /** Seconds after which a retry may succeed (503 and 429). */
  retryAfterSeconds?: number;
  cause?: unknown;
  /**
   * The operator has already been told of this failure by a log line of its own
   * (e.g. a user credential Google refused, told once per pause): the audit trail
   * writes no further operator line for it.
   */
  reported?: boolean;
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
  readonly reported: boolean;

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
    this.reported = options.reported ?? false;
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

/**
 * Why a JWT (a subject token or a client assertion) was refused. The caller type that
 * presented it turns it into its own refusal: `invalid_grant` for a subject token
 * (RFC 8693 §2.2.2), `invalid_client` for a client assertion (RFC 7523 §3.2).
 */
export class JwtRejected extends TvmError {
  /** A short stable reason, for the audit record (`expired`, `bad_signature`, ...). */
  readonly reason: string;

  /**
   * `message` is the caller-facing description: safe to send back. `detail` is for
   * the operator (encoded; no token material).
   */
  constructor(reason: string, message: string, detail?: string) {
    super('ERR_JWT_REJECTED', message, {detail});
    this.reason = reason;
  }
}

/** The keys of an issuer or a partner could not be fetched: a retry may help. */
export class KeysUnavailable extends TvmError {
  declare readonly detail: string;

  constructor(detail: string, options?: {cause?: unknown}) {
    super('ERR_KEYS_UNAVAILABLE', 'the signing keys could not be fetched', {
      detail,
      retryAfterSeconds: 5,
      cause: options?.cause,
    });
  }
}

/** One problem found in a policy document, named by its path in the document. */
export interface PolicyIssue {
  /** A JSON-pointer-like path, e.g. `clients.nightly-export.allow[0].scopes[1]`. */
  readonly path: string;
  readonly message: string;
}

/** A policy that failed to parse or compile; carries every issue found, not only the first. */
export class PolicyError extends TvmError {
  declare readonly code: 'ERR_POLICY_INVALID';
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[], source?: string) {
    const head = source ? `invalid policy ${source}` : 'invalid policy';
    super(
      'ERR_POLICY_INVALID',
      `${head}: ${issues.map(i => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    );
    this.issues = Object.freeze([...issues]);
  }
}

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends TvmError {
  declare readonly code: 'ERR_CONFIG_INVALID';
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('ERR_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}
