/**
 * Keyless minting: the IAM Service Account Credentials API's generateAccessToken,
 * called with the function's own identity. One attempt per call; retries and the
 * deadline are `withRetry`'s job.
 */
import type {AuthClient} from 'google-auth-library';
import * as z from 'zod';
import {UpstreamError, classify} from './upstream.ts';
import type {Clock} from '../clock.ts';

/** A token as Google issued it. */
export interface IssuedToken {
  readonly accessToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

const GenerateAccessTokenResponse = z.object({
  accessToken: z.string().min(1).max(4096),
  expireTime: z.iso.datetime({offset: true}),
});

/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface GenerateAccessTokenRequest {
  readonly email: string;
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly timeoutMs: number;
}

/**
 * POST {endpoint}/v1/projects/-/serviceAccounts/{email}:generateAccessToken with the
 * source client's bearer token. Validates the answer: a token and an expiry in the
 * future, or an UpstreamError (never a half-valid token).
 */
export async function generateAccessToken(
  source: AuthClient,
  endpoint: string,
  clock: Clock,
  req: GenerateAccessTokenRequest,
): Promise<IssuedToken> {
  const url = `${endpoint}/v1/projects/-/serviceAccounts/${encodeURIComponent(req.email)}:generateAccessToken`;
  let text: string;
  try {
    const res = await source.request<string>({
      url,
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      data: JSON.stringify({
        scope: req.scopes,
        lifetime: `${req.lifetimeSeconds}s`,
      }),
      timeout: req.timeoutMs,
      retry: false,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
      maxRedirects: 0,
    });
    text = res.data;
  } catch (e) {
    const err = classify(e, 'IAM Credentials generateAccessToken');
    const status = googleStatus(e);
    throw status
      ? new UpstreamError(
          `${err.message} (${status})`,
          err.retryable,
          err.status,
        )
      : err;
  }
  return parseIssued(text, clock);
}

function parseIssued(text: string, clock: Clock): IssuedToken {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError(
      'IAM Credentials answered a body that is not JSON',
      false,
    );
  }
  const parsed = GenerateAccessTokenResponse.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError(
      'IAM Credentials answered an unexpected body shape',
      false,
    );
  }
  const expiresAt = Date.parse(parsed.data.expireTime);
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'IAM Credentials answered a token that has already expired',
      false,
    );
  }
  return {accessToken: parsed.data.accessToken, expiresAt};
}

/** Google's canonical status name (`PERMISSION_DENIED`) from an error body, if any. */
export function googleStatus(e: unknown): string | undefined {
  const data = (e as {response?: {data?: unknown}})?.response?.data;
  let body: unknown = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  const status = (body as {error?: {status?: unknown}})?.error?.status;
  return typeof status === 'string' && /^[A-Z_]{1,64}$/.test(status)
    ? status
    : undefined;
}
