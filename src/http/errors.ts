/**
 * The only place where refusals become HTTP: one table from each code of the error
 * model (src/errors.ts) to its status, its OAuth 2.0 error code (RFC 6749 §5.2, RFC
 * 8707 `invalid_target`, RFC 8628 `slow_down` for rate limits) and Google's canonical
 * status; one mapper to the OAuth 2.0 JSON body and one to Google's error envelope.
 * Anything that is not a TvmError is a 500 with a fixed description: nothing from
 * inside reaches the caller.
 */
import type {ServerResponse} from 'node:http';
import {TvmError, type TvmErrorCode} from '../errors.ts';
import {sendJson} from './respond.ts';

/** How a refusal looks on the wire. */
export interface WireError {
  readonly status: number;
  /** The OAuth 2.0 `error`. */
  readonly oauth: string;
  /** Google's canonical status name (`google.rpc.Code`) for its error envelope. */
  readonly google: string;
  /** The caller may read the error's own message; else a fixed description. */
  readonly ownMessage: boolean;
}

const row = (
  status: number,
  oauth: string,
  google: string,
  ownMessage = true,
): WireError => Object.freeze({status, oauth, google, ownMessage});

/** Every code of the error model, on the wire. */
export const WIRE: Readonly<Record<TvmErrorCode, WireError>> = Object.freeze({
  ERR_INVALID_REQUEST: row(400, 'invalid_request', 'INVALID_ARGUMENT'),
  ERR_UNSUPPORTED_GRANT_TYPE: row(
    400,
    'unsupported_grant_type',
    'INVALID_ARGUMENT',
  ),
  ERR_UNSUPPORTED_MEDIA_TYPE: row(415, 'invalid_request', 'INVALID_ARGUMENT'),
  ERR_PAYLOAD_TOO_LARGE: row(413, 'invalid_request', 'INVALID_ARGUMENT'),
  ERR_INVALID_CLIENT: row(401, 'invalid_client', 'UNAUTHENTICATED'),
  ERR_INVALID_GRANT: row(400, 'invalid_grant', 'UNAUTHENTICATED'),
  // Always turned into the presenting caller type's own refusal before it gets here;
  // should one slip through, it is the safe refusal of a bad token.
  ERR_JWT_REJECTED: row(400, 'invalid_grant', 'UNAUTHENTICATED'),
  ERR_KEYS_UNAVAILABLE: row(503, 'temporarily_unavailable', 'UNAVAILABLE'),
  ERR_INVALID_TARGET: row(403, 'invalid_target', 'PERMISSION_DENIED'),
  ERR_INVALID_SCOPE: row(400, 'invalid_scope', 'INVALID_ARGUMENT'),
  ERR_RATE_LIMITED: row(429, 'slow_down', 'RESOURCE_EXHAUSTED'),
  ERR_UPSTREAM_REFUSED: row(502, 'temporarily_unavailable', 'UNAVAILABLE'),
  ERR_UPSTREAM_UNAVAILABLE: row(503, 'temporarily_unavailable', 'UNAVAILABLE'),
  // Google said no, as for ERR_UPSTREAM_REFUSED: a retry helps only once the operator
  // has imported a new credential, so 502 (with Retry-After: when tvm asks again).
  ERR_USER_CREDENTIAL_REFUSED: row(
    502,
    'temporarily_unavailable',
    'UNAVAILABLE',
  ),
  ERR_POLICY_UNAVAILABLE: row(503, 'temporarily_unavailable', 'UNAVAILABLE'),
  ERR_POLICY_INVALID: row(503, 'temporarily_unavailable', 'UNAVAILABLE', false),
  ERR_CONFIG_INVALID: row(500, 'server_error', 'INTERNAL', false),
  ERR_NOT_FOUND: row(404, 'not_found', 'NOT_FOUND'),
  ERR_METHOD_NOT_ALLOWED: row(405, 'method_not_allowed', 'INVALID_ARGUMENT'),
  ERR_INTERNAL: row(500, 'server_error', 'INTERNAL', false),
});

/** The wire form of `e`; anything foreign is ERR_INTERNAL. */
export function wireError(e: unknown): WireError {
  return e instanceof TvmError ? WIRE[e.code] : WIRE.ERR_INTERNAL;
}

/**
 * Google's error envelope speaks of a refused credential as 401 UNAUTHENTICATED,
 * where OAuth 2.0 says 400 invalid_grant for a bad subject token.
 */
export function googleStatus(wire: WireError): number {
  return wire.google === 'UNAUTHENTICATED' ? 401 : wire.status;
}

/** Headers every refusal carries: Retry-After when a retry may help, no caching. */
function commonHeaders(res: ServerResponse, e: unknown): void {
  if (e instanceof TvmError && e.retryAfterSeconds !== undefined) {
    res.setHeader(
      'Retry-After',
      String(Math.max(1, Math.ceil(e.retryAfterSeconds))),
    );
  }
  res.setHeader('Cache-Control', 'no-store');
}

/**
 * Sends `e` as an OAuth 2.0 error response (RFC 6749 §5.2); returns the status.
 * `basic`: the request authenticated with HTTP Basic, so a refused client is told the
 * scheme to use again (RFC 6749 §5.2, `WWW-Authenticate`).
 */
export function sendOAuthError(
  res: ServerResponse,
  e: unknown,
  basic: boolean,
): number {
  const wire = wireError(e);
  const description =
    wire.ownMessage && e instanceof TvmError
      ? e.message
      : 'the server failed to handle the request';
  if (basic && wire.oauth === 'invalid_client') {
    res.setHeader('WWW-Authenticate', 'Basic realm="tvm"');
  }
  commonHeaders(res, e);
  res.setHeader('Pragma', 'no-cache');
  sendJson(res, wire.status, {
    error: wire.oauth,
    error_description: description,
  });
  return wire.status;
}

/** Sends `e` in Google's error envelope `{"error":{code,message,status}}`; returns the status. */
export function sendGoogleError(res: ServerResponse, e: unknown): number {
  const wire = wireError(e);
  const status = googleStatus(wire);
  const message =
    wire.ownMessage && e instanceof TvmError
      ? e.message
      : 'Internal error encountered.';
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="tvm"');
  commonHeaders(res, e);
  sendJson(res, status, {error: {code: status, message, status: wire.google}});
  return status;
}
