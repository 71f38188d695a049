/**
 * Why a JWT (a subject token or a client assertion) was refused. The callers turn it
 * into their TvmError: `invalid_grant` for a subject token (RFC 8693 §2.2.2),
 * `invalid_client` for a client assertion (RFC 7523 §3.2).
 */
export class JwtRejected extends Error {
  /** A short stable reason, for the audit record (`expired`, `bad_signature`, ...). */
  readonly reason: string;
  /** Operator-facing detail for the audit record (encoded; no token material). */
  readonly detail: string | undefined;

  /** `message` is the caller-facing description: safe to send back. */
  constructor(reason: string, message: string, detail?: string) {
    super(message);
    this.name = new.target.name;
    this.reason = reason;
    this.detail = detail;
  }
}

/** The keys of an issuer or a partner could not be fetched: a retry may help. */
export class KeysUnavailable extends Error {
  readonly detail: string;
  constructor(detail: string, options?: {cause?: unknown}) {
    super('the signing keys could not be fetched', options);
    this.name = new.target.name;
    this.detail = detail;
  }
}
