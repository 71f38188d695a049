/**
 * Downscoping: Google's Security Token Service exchanges an access token for one that
 * carries a Credential Access Boundary (RFC 8693 token exchange, `POST
 * {endpoint}/v1/token`, the boundary in the non-standard `options` parameter), as
 * google-auth-library's DownscopedClient asks for it. No Authorization header: the
 * token to downscope is the credential. One attempt per call; retries and the
 * deadline are `withRetry`'s job.
 */
import * as z from '../zod.ts';
import type {Clock} from '../clock.ts';
import {TOKEN_TYPE_ACCESS_TOKEN} from '../token-types.ts';
import type {IssuedToken} from './iam-credentials.ts';
import {postForm} from './oauth2.ts';
import {UpstreamError, parseAnswer} from './upstream.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const StsResponse = z.object({
  access_token: z.string().check(z.minLength(1), z.maxLength(8192)),
  issued_token_type: z.literal(TOKEN_TYPE_ACCESS_TOKEN),
  token_type: z.string().check(z.regex(/^bearer$/i)),
  // Only when the source token is a service account's; else it lives as long.
  expires_in: z.optional(z.number().check(z.int(), z.positive())),
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
  const asked = clock.now();
  const text = await postForm(
    `${endpoint}/v1/token`,
    {
      grant_type: TOKEN_EXCHANGE,
      subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      subject_token: req.token.accessToken,
      options: req.boundaryJson,
    },
    req.timeoutMs,
    'STS token exchange',
  );
  const answer = parseAnswer(text, StsResponse, 'STS');
  const expiresAt = Math.min(
    req.token.expiresAt,
    answer.expires_in === undefined
      ? Infinity
      : asked + answer.expires_in * 1000,
  );
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'STS answered a token that has already expired',
      false,
    );
  }
  return {accessToken: answer.access_token, expiresAt};
}
