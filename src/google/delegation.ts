/**
 * Domain-wide delegation: a token that acts for a Workspace user, from Google's OAuth
 * 2.0 token endpoint (JWT-bearer grant, RFC 7523 §2.1) with the user in the
 * assertion's `sub`.
 *
 * - Keyless: IAM Credentials `signJwt` signs the assertion with the account's
 *   Google-managed key (the function's identity needs `iam.serviceAccounts.signJwt`
 *   on the account: roles/iam.serviceAccountTokenCreator has it), then the assertion
 *   is exchanged at the token endpoint.
 * - With a key: google-auth-library's JWT client with `subject`.
 *
 * One attempt per call; retries and the deadline are `withRetry`'s job. Google's
 * tokens here always live one hour.
 */
import type {AuthClient} from 'google-auth-library';
import * as z from '../zod.ts';
import type {Clock} from '../clock.ts';
import {callIamCredentials, type IssuedToken} from './iam-credentials.ts';
import {
  GOOGLE_TOKEN_URL,
  keyAssertionToken,
  postForm,
  type ServiceAccountKey,
} from './oauth2.ts';
import {UpstreamError, parseAnswer} from './upstream.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** An assertion's life: Google's longest, and the life of the token it buys. */
const ASSERTION_LIFETIME_SECONDS = 3600;

const SignJwtResponse = z.object({
  keyId: z.string().check(z.minLength(1), z.maxLength(128)),
  signedJwt: z
    .string()
    .check(
      z.maxLength(16_384),
      z.regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
    ),
});

const TokenResponse = z.object({
  access_token: z.string().check(z.minLength(1), z.maxLength(4096)),
  expires_in: z.number().check(z.int(), z.positive()),
  token_type: z.string().check(z.regex(/^bearer$/i)),
});

/** Who acts for whom, with which scopes. */
export interface DelegationRequest {
  /** The service account. */
  readonly email: string;
  /** The Workspace user, lower-cased. */
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly timeoutMs: number;
}

/**
 * The assertion for `req`, signed by IAM Credentials `signJwt` with the function's own
 * identity: `iss` the account, `sub` the user, `scope`, `aud` Google's token URL, one
 * hour. The signed JWT is a credential: it is never logged.
 */
export async function signDelegationAssertion(
  source: AuthClient,
  endpoint: string,
  clock: Clock,
  req: DelegationRequest,
): Promise<string> {
  const iat = Math.floor(clock.now() / 1000);
  const payload = JSON.stringify({
    iss: req.email,
    sub: req.subject,
    scope: req.scopes.join(' '),
    aud: GOOGLE_TOKEN_URL,
    iat,
    exp: iat + ASSERTION_LIFETIME_SECONDS,
  });
  const answer = await callIamCredentials(source, endpoint, {
    email: req.email,
    method: 'signJwt',
    body: {payload},
    timeoutMs: req.timeoutMs,
    answer: SignJwtResponse,
    answerer: 'IAM Credentials signJwt',
    withStatus: false,
  });
  return answer.signedJwt;
}

/**
 * Exchanges a signed assertion at the token endpoint (`tokenUrl`, Google's or the one
 * configured). A refusal carries Google's OAuth error code (`unauthorized_client`:
 * the account is not authorized for delegation or for a scope; `invalid_grant`: no
 * such user) in its message for the operator.
 */
export async function exchangeAssertion(
  assertion: string,
  tokenUrl: string,
  clock: Clock,
  timeoutMs: number,
): Promise<IssuedToken> {
  const asked = clock.now();
  const text = await postForm(
    tokenUrl,
    {grant_type: JWT_BEARER, assertion},
    timeoutMs,
    'OAuth 2.0 token endpoint',
  );
  const answer = parseAnswer(text, TokenResponse, 'OAuth 2.0 token endpoint');
  const expiresAt = asked + answer.expires_in * 1000;
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered a token that has already expired',
      false,
    );
  }
  return {accessToken: answer.access_token, expiresAt};
}

/**
 * A delegated token with a service-account key: google-auth-library's JWT client with
 * `subject`, its token URL rewritten to `tokenUrl` (src/google/oauth2.ts).
 */
export async function keyDelegatedToken(
  key: ServiceAccountKey,
  req: DelegationRequest,
  tokenUrl: string,
  clock: Clock,
): Promise<IssuedToken> {
  return keyAssertionToken(
    key,
    {scopes: req.scopes, subject: req.subject},
    tokenUrl,
    clock,
    req.timeoutMs,
    true,
  );
}
