/**
 * Keyless minting: the IAM Service Account Credentials API's generateAccessToken,
 * called with the function's own identity. One attempt per call; retries and the
 * deadline are `withRetry`'s job. `callIamCredentials` makes every IAM Credentials
 * call tvm makes (generateAccessToken, generateIdToken, signJwt).
 */
import type {AuthClient} from 'google-auth-library';
import * as z from '../zod.ts';
import {
  UpstreamError,
  classifyWithCode,
  googleStatus,
  parseAnswer,
} from './upstream.ts';
import type {Clock} from '../clock.ts';

/** A token as Google issued it. */
export interface IssuedToken {
  readonly accessToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

const GenerateAccessTokenResponse = z.object({
  accessToken: z.string().check(z.minLength(1), z.maxLength(4096)),
  expireTime: z.iso.datetime({offset: true}),
});

/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** One call of an IAM Credentials method on a service account. */
export interface IamCredentialsCall<T> {
  /** The service account. */
  readonly email: string;
  /** `generateAccessToken`, `generateIdToken`, `signJwt`. */
  readonly method: string;
  /** The request body, sent as JSON. */
  readonly body: unknown;
  readonly timeoutMs: number;
  /** The answer's shape. */
  readonly answer: z.ZodMiniType<T>;
  /** Who answered, in the messages of an answer of the wrong shape. */
  readonly answerer: string;
  /** A refusal's message carries Google's canonical status (`PERMISSION_DENIED`). */
  readonly withStatus: boolean;
}

/**
 * POST {endpoint}/v1/projects/-/serviceAccounts/{email}:{method} with the source
 * client's bearer token, one attempt, the answer bounded and checked against its
 * shape. Throws UpstreamError.
 */
export async function callIamCredentials<T>(
  source: AuthClient,
  endpoint: string,
  call: IamCredentialsCall<T>,
): Promise<T> {
  let text: string;
  try {
    const res = await source.request<string>({
      url: `${endpoint}/v1/projects/-/serviceAccounts/${encodeURIComponent(call.email)}:${call.method}`,
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      data: JSON.stringify(call.body),
      timeout: call.timeoutMs,
      retry: false,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
      maxRedirects: 0,
    });
    text = res.data;
  } catch (e) {
    throw classifyWithCode(
      e,
      `IAM Credentials ${call.method}`,
      call.withStatus ? googleStatus(e) : undefined,
    );
  }
  return parseAnswer(text, call.answer, call.answerer);
}

export interface GenerateAccessTokenRequest {
  readonly email: string;
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly timeoutMs: number;
}

/**
 * generateAccessToken for `req.email`. Validates the answer: a token and an expiry in
 * the future, or an UpstreamError (never a half-valid token).
 */
export async function generateAccessToken(
  source: AuthClient,
  endpoint: string,
  clock: Clock,
  req: GenerateAccessTokenRequest,
): Promise<IssuedToken> {
  const answer = await callIamCredentials(source, endpoint, {
    email: req.email,
    method: 'generateAccessToken',
    body: {scope: req.scopes, lifetime: `${req.lifetimeSeconds}s`},
    timeoutMs: req.timeoutMs,
    answer: GenerateAccessTokenResponse,
    answerer: 'IAM Credentials',
    withStatus: true,
  });
  const expiresAt = Date.parse(answer.expireTime);
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'IAM Credentials answered a token that has already expired',
      false,
    );
  }
  return {accessToken: answer.accessToken, expiresAt};
}
