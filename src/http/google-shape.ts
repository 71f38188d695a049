/**
 * The IAM Service Account Credentials API shape (google-wire.md): the request body of
 * `generateAccessToken`, its response, and Google's error envelope
 * `{"error":{"code","message","status"}}`. Code written against that API (including
 * google-auth-library's `Impersonated` with its `endpoint` option) then works against
 * tvm by changing one URL. The status and code come from the same table as the token
 * endpoint (`mapError`); only the envelope differs, and a refused bearer credential is
 * Google's 401 UNAUTHENTICATED.
 */

import type {Request, Response} from 'express';
import {z} from 'zod';
import {TvmError} from '../errors.ts';
import {mapError} from './errors.ts';
import {readRawBody} from './token-request.ts';

/** `/v1/projects/-/serviceAccounts/{email}:generateAccessToken`. */
export const GENERATE_ACCESS_TOKEN_PATH =
  /^\/v1\/projects\/-\/serviceAccounts\/([^/]{1,320}):generateAccessToken$/;

const STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
};

const bodySchema = z.strictObject({
  scope: z.array(z.string().min(1).max(256)).min(1).max(32),
  lifetime: z
    .string()
    .regex(/^[0-9]{1,6}(\.0{1,9})?s$/)
    .optional(),
  delegates: z.array(z.string()).optional(),
});

/** What a generateAccessToken request asks for. */
export interface GenerateAccessTokenRequest {
  readonly scope: string;
  readonly lifetimeSeconds: number | undefined;
}

/** Reads and checks the JSON body. Throws TvmError invalid_request (400). */
export async function readGenerateAccessToken(
  req: Request,
): Promise<GenerateAccessTokenRequest> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type.toLowerCase() !== 'application/json') {
    throw new TvmError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      'the body must be application/json',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse((await readRawBody(req)).toString('utf8'));
  } catch (e) {
    if (e instanceof TvmError) throw e;
    throw new TvmError('ERR_INVALID_REQUEST', 'the body is not valid JSON');
  }
  const r = bodySchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.join('.') || 'body';
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `invalid ${at}: ${issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : 'expected scope: [string, ...], lifetime: "<seconds>s", delegates: []'}`,
    );
  }
  if ((r.data.delegates ?? []).length > 0) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'delegates are not supported: the caller is authorized by the policy directly',
    );
  }
  return {
    scope: r.data.scope.join(' '),
    lifetimeSeconds:
      r.data.lifetime === undefined
        ? undefined
        : Number(r.data.lifetime.replace(/(\.0+)?s$/, '')),
  };
}

/** Sends `e` in Google's error envelope; returns the status. */
export function sendGoogleError(res: Response, e: unknown): number {
  const unauthenticated =
    e instanceof TvmError &&
    (e.code === 'ERR_INVALID_CLIENT' || e.code === 'ERR_INVALID_GRANT');
  const status = unauthenticated ? 401 : mapError(e).status;
  const message =
    e instanceof TvmError && e.code !== 'ERR_INTERNAL'
      ? e.message
      : 'Internal error encountered.';
  if (unauthenticated) res.setHeader('WWW-Authenticate', 'Bearer realm="tvm"');
  if (e instanceof TvmError) {
    if (e.retryAfterSeconds !== undefined) {
      res.setHeader(
        'Retry-After',
        String(Math.max(1, Math.ceil(e.retryAfterSeconds))),
      );
    }
    if (e.allow) res.setHeader('Allow', e.allow.join(', '));
  }
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).json({
    error: {code: status, message, status: STATUS[status] ?? 'UNKNOWN'},
  });
  return status;
}

/** Google's success body: the token and its expiry in RFC 3339 (seconds precision). */
export function generateAccessTokenResponse(
  accessToken: string,
  expiresAt: number,
): {accessToken: string; expireTime: string} {
  const expireTime = new Date(Math.floor(expiresAt / 1000) * 1000)
    .toISOString()
    .replace('.000Z', 'Z');
  return {accessToken, expireTime};
}
