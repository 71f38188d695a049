/**
 * Google ID tokens, the two ways Google issues them for a service account: the IAM
 * Service Account Credentials API's generateIdToken (keyless, with the function's own
 * identity), and the OAuth 2.0 token endpoint's JWT-bearer grant with a
 * `target_audience` claim (with a key; google-auth-library's `JWT#fetchIdToken`). One
 * attempt per call; retries and the deadline are `withRetry`'s job.
 *
 * Neither answer says when the token expires: its own `exp` does. The token is read
 * (not verified: it comes from Google over TLS, and its receiver verifies it) for a
 * future `exp` and the audience asked for, or refused as an UpstreamError.
 */
import {JWT, type AuthClient} from 'google-auth-library';
import {decodeJwt} from 'jose';
import * as z from '../zod.ts';
import type {Clock} from '../clock.ts';
import {callIamCredentials, type IssuedToken} from './iam-credentials.ts';
import {tokenTransporter, type ServiceAccountKey} from './oauth2.ts';
import {UpstreamError, classify} from './upstream.ts';

/** Google's ID tokens are about a kilobyte; anything much bigger is not one. */
const MAX_ID_TOKEN_CHARS = 8192;

const GenerateIdTokenResponse = z.object({
  token: z.string().check(z.minLength(1), z.maxLength(MAX_ID_TOKEN_CHARS)),
});

export interface GenerateIdTokenRequest {
  readonly email: string;
  readonly audience: string;
  readonly includeEmail: boolean;
  readonly timeoutMs: number;
}

/**
 * POST {endpoint}/v1/projects/-/serviceAccounts/{email}:generateIdToken with the
 * source client's bearer token. `useEmailAzp` follows `includeEmail`, as
 * google-auth-library's `Impersonated#fetchIdToken` sends it: the email is in the
 * token, in `email` and `azp`, or nowhere.
 */
export async function generateIdToken(
  source: AuthClient,
  endpoint: string,
  clock: Clock,
  req: GenerateIdTokenRequest,
): Promise<IssuedToken> {
  const answer = await callIamCredentials(source, endpoint, {
    email: req.email,
    method: 'generateIdToken',
    body: {
      audience: req.audience,
      includeEmail: req.includeEmail,
      useEmailAzp: req.includeEmail,
    },
    timeoutMs: req.timeoutMs,
    answer: GenerateIdTokenResponse,
    answerer: 'IAM Credentials',
    withStatus: true,
  });
  return readIdToken(answer.token, req.audience, clock, 'IAM Credentials');
}

/**
 * Exchanges an assertion with `target_audience` (signed with `key`) for an ID token at
 * the token endpoint. Google's key-based ID tokens always carry the email.
 */
export async function jwtBearerIdToken(
  key: ServiceAccountKey,
  audience: string,
  tokenUrl: string,
  clock: Clock,
  timeoutMs: number,
): Promise<IssuedToken> {
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    transporter: tokenTransporter(tokenUrl, timeoutMs),
  });
  let token: string;
  try {
    token = await client.fetchIdToken(audience);
  } catch (e) {
    throw classify(e, 'OAuth 2.0 token endpoint');
  }
  if (typeof token !== 'string' || token.length > MAX_ID_TOKEN_CHARS) {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered without an ID token',
      false,
    );
  }
  return readIdToken(token, audience, clock, 'OAuth 2.0 token endpoint');
}

/** The token with its expiry, if it is a JWT for `audience` that has not expired. */
function readIdToken(
  token: string,
  audience: string,
  clock: Clock,
  what: string,
): IssuedToken {
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new UpstreamError(
      `${what} answered an ID token that is not a JWT`,
      false,
    );
  }
  if (claims.aud !== audience) {
    throw new UpstreamError(
      `${what} answered an ID token for another audience`,
      false,
    );
  }
  const exp = claims.exp;
  if (typeof exp !== 'number' || !(exp * 1000 > clock.now())) {
    throw new UpstreamError(
      `${what} answered an ID token without a future exp`,
      false,
    );
  }
  return {accessToken: token, expiresAt: exp * 1000};
}
