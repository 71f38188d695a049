/**
 * The only place where errors become HTTP: status, OAuth 2.0 error code (RFC 6749
 * §5.2, RFC 8707 `invalid_target`, RFC 8628 `slow_down` for rate limits) and headers.
 * Anything that is not a TvmError is a 500 `server_error` with a fixed description:
 * nothing from inside reaches the caller.
 */
import type {Response} from 'express';
import {TvmError, type TvmErrorCode} from '../errors.ts';

interface Mapping {
  readonly status: number;
  readonly error: string;
}

const MAPPING: Readonly<Record<TvmErrorCode, Mapping>> = {
  ERR_INVALID_REQUEST: {status: 400, error: 'invalid_request'},
  ERR_UNSUPPORTED_GRANT_TYPE: {status: 400, error: 'unsupported_grant_type'},
  ERR_UNSUPPORTED_MEDIA_TYPE: {status: 415, error: 'invalid_request'},
  ERR_PAYLOAD_TOO_LARGE: {status: 413, error: 'invalid_request'},
  ERR_INVALID_CLIENT: {status: 401, error: 'invalid_client'},
  ERR_INVALID_GRANT: {status: 400, error: 'invalid_grant'},
  ERR_INVALID_TARGET: {status: 403, error: 'invalid_target'},
  ERR_INVALID_SCOPE: {status: 400, error: 'invalid_scope'},
  ERR_RATE_LIMITED: {status: 429, error: 'slow_down'},
  ERR_UPSTREAM_REFUSED: {status: 502, error: 'temporarily_unavailable'},
  ERR_UPSTREAM_UNAVAILABLE: {status: 503, error: 'temporarily_unavailable'},
  ERR_POLICY_UNAVAILABLE: {status: 503, error: 'temporarily_unavailable'},
  ERR_NOT_FOUND: {status: 404, error: 'not_found'},
  ERR_METHOD_NOT_ALLOWED: {status: 405, error: 'method_not_allowed'},
  ERR_INTERNAL: {status: 500, error: 'server_error'},
};

/** Status and OAuth error code for `e`. */
export function mapError(e: unknown): Mapping {
  return e instanceof TvmError ? MAPPING[e.code] : MAPPING.ERR_INTERNAL;
}

/** Sends `e` as the contract's JSON error body with its status and headers. */
export function sendError(res: Response, e: unknown): number {
  const {status, error} = mapError(e);
  const description =
    e instanceof TvmError && e.code !== 'ERR_INTERNAL'
      ? e.message
      : 'the server failed to handle the request';
  if (e instanceof TvmError) {
    if (e.basicChallenge)
      res.setHeader('WWW-Authenticate', 'Basic realm="tvm"');
    if (e.retryAfterSeconds !== undefined) {
      res.setHeader(
        'Retry-After',
        String(Math.max(1, Math.ceil(e.retryAfterSeconds))),
      );
    }
    if (e.allow) res.setHeader('Allow', e.allow.join(', '));
  }
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.status(status).json({error, error_description: description});
  return status;
}
