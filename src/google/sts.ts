/**
 * Downscoping: Google's Security Token Service exchanges an access token for one that
 * carries a Credential Access Boundary (RFC 8693 token exchange, `POST
 * {endpoint}/v1/token`, the boundary in the non-standard `options` parameter), as
 * google-auth-library's DownscopedClient asks for it. No Authorization header: the
 * token to downscope is the credential. One attempt per call; retries and the
 * deadline are `withRetry`'s job.
 */
import {gaxios} from 'google-auth-library';
import * as z from 'zod';
import type {Clock} from '../clock.ts';
import {TOKEN_TYPE_ACCESS_TOKEN} from '../token-types.ts';
import type {IssuedToken} from './iam-credentials.ts';
import {fetchImplementation} from './fetch.ts';
import {UpstreamError, classify} from './upstream.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const StsResponse = z.object({
  access_token: z.string().min(1).max(8192),
  issued_token_type: z.literal(TOKEN_TYPE_ACCESS_TOKEN),
  token_type: z.string().regex(/^bearer$/i),
  // Only when the source token is a service account's; else it lives as long.
  expires_in: z.number().int().positive().optional(),
});

export interface DownscopeRequest {
  /** The access token to downscope (a secret: sent in the body, never logged). */
  readonly token: IssuedToken;
  /** `{"accessBoundary":{...}}` as JSON, sent as it is. */
  readonly boundaryJson: string;
  readonly timeoutMs: number;
}

/**
 * Exchanges `req.token` for a downscoped token. Its expiry is the one STS reports, but
 * never later than the source token's (the downscoped token cannot outlive it).
 * Throws UpstreamError (never a half-valid token).
 */
export async function downscopeToken(
  endpoint: string,
  clock: Clock,
  req: DownscopeRequest,
): Promise<IssuedToken> {
  const transporter = new gaxios.Gaxios({
    fetchImplementation,
    retry: false,
    maxRedirects: 0,
  });
  const asked = clock.now();
  let text: string;
  try {
    const res = await transporter.request<string>({
      url: `${endpoint}/v1/token`,
      method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      data: new URLSearchParams({
        grant_type: TOKEN_EXCHANGE,
        subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        subject_token: req.token.accessToken,
        options: req.boundaryJson,
      }).toString(),
      timeout: req.timeoutMs,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
    });
    text = res.data;
  } catch (e) {
    const err = classify(e, 'STS token exchange');
    const code = oauthErrorCode(e);
    throw code
      ? new UpstreamError(`${err.message} (${code})`, err.retryable, err.status)
      : err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError('STS answered a body that is not JSON', false);
  }
  const parsed = StsResponse.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError('STS answered an unexpected body shape', false);
  }
  const expiresAt = Math.min(
    req.token.expiresAt,
    parsed.data.expires_in === undefined
      ? Infinity
      : asked + parsed.data.expires_in * 1000,
  );
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'STS answered a token that has already expired',
      false,
    );
  }
  return {accessToken: parsed.data.access_token, expiresAt};
}

/**
 * The OAuth 2.0 `error` code (RFC 6749 §5.2) of a failed request's body, if it has one
 * of the expected shape: a short lower-case word, never the description (which could
 * quote the request).
 */
export function oauthErrorCode(e: unknown): string | undefined {
  const data = (e as {response?: {data?: unknown}})?.response?.data;
  let body: unknown = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  const code = (body as {error?: unknown})?.error;
  return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code)
    ? code
    : undefined;
}
