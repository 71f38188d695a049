/**
 * Google's error shapes, in one place: the OAuth 2.0 token endpoint's
 * `{"error","error_description"}` (RFC 6749 §5.2), the `google.rpc.Status` JSON of the
 * REST APIs (`{"error":{"code","message","status","details"}}`), and the mapping of an
 * HTTP status to a canonical code name and to a gRPC status code.
 */
import {status as GrpcStatus} from '@grpc/grpc-js';
import {json, type Reply} from './reply.ts';

/** Canonical code names (google.rpc.Code) keyed by the HTTP status Google uses. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const GRPC_CODES: Readonly<Record<string, GrpcStatus>> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  ABORTED: GrpcStatus.ABORTED,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  CANCELLED: GrpcStatus.CANCELLED,
  INTERNAL: GrpcStatus.INTERNAL,
  UNIMPLEMENTED: GrpcStatus.UNIMPLEMENTED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  UNKNOWN: GrpcStatus.UNKNOWN,
};

/** The google.rpc.Code name for an HTTP status (UNKNOWN when Google has none). */
export function statusName(httpStatus: number): string {
  return (
    STATUS_NAMES[httpStatus] ?? (httpStatus >= 500 ? 'INTERNAL' : 'UNKNOWN')
  );
}

/** The gRPC status code Google's gateways map an HTTP status to. */
export function grpcCodeForHttp(httpStatus: number): GrpcStatus {
  return GRPC_CODES[statusName(httpStatus)] ?? GrpcStatus.UNKNOWN;
}

/** An OAuth 2.0 token endpoint error body (RFC 6749 §5.2), as oauth2.googleapis.com sends it. */
export function oauthError(
  status: number,
  error: string,
  description: string,
): Reply {
  return json(status, {error, error_description: description});
}

/** One entry of `error.details` (google.rpc.ErrorInfo, BadRequest, ...). */
export type ErrorDetail = Readonly<Record<string, unknown>>;

/** A REST API error body: `{"error":{"code","message","status","details"}}`. */
export function apiError(
  httpStatus: number,
  message: string,
  options: {status?: string; details?: readonly ErrorDetail[]} = {},
): Reply {
  const error: Record<string, unknown> = {
    code: httpStatus,
    message,
    status: options.status ?? statusName(httpStatus),
  };
  if (options.details !== undefined) error.details = options.details;
  return json(httpStatus, {error});
}

/** google.rpc.ErrorInfo detail. */
export function errorInfo(
  reason: string,
  domain: string,
  metadata: Readonly<Record<string, string>>,
): ErrorDetail {
  return {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason,
    domain,
    metadata,
  };
}

/** google.rpc.BadRequest detail with one field violation. */
export function badRequest(field: string, description: string): ErrorDetail {
  return {
    '@type': 'type.googleapis.com/google.rpc.BadRequest',
    fieldViolations: [{field, description}],
  };
}

/** Google's 401 body for a request without usable credentials. */
export function unauthenticated(missing: boolean): Reply {
  const message = missing
    ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'
    : 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
  return apiError(401, message, {
    details: [
      errorInfo(
        missing ? 'CREDENTIALS_MISSING' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
        'googleapis.com',
        {},
      ),
    ],
  });
}

/** A gRPC status error as grpc-js server callbacks take it. */
export interface GrpcError {
  code: GrpcStatus;
  details: string;
}

/** Builds a gRPC status error. */
export function grpcError(code: GrpcStatus, details: string): GrpcError {
  return {code, details};
}
