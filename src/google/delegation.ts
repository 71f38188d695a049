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
import {JWT, gaxios, type AuthClient} from 'google-auth-library';
import * as z from 'zod';
import type {Clock} from '../clock.ts';
import type {IssuedToken} from './iam-credentials.ts';
import {fetchImplementation} from './fetch.ts';
import {
  GOOGLE_TOKEN_URL,
  tokenTransporter,
  type ServiceAccountKey,
} from './oauth2.ts';
import {oauthErrorCode} from './sts.ts';
import {UpstreamError, classify} from './upstream.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** An assertion's life: Google's longest, and the life of the token it buys. */
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const SignJwtResponse = z.object({
  keyId: z.string().min(1).max(128),
  signedJwt: z
    .string()
    .max(16_384)
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
});

const TokenResponse = z.object({
  access_token: z.string().min(1).max(4096),
  expires_in: z.number().int().positive(),
  token_type: z.string().regex(/^bearer$/i),
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
  let text: string;
  try {
    const res = await source.request<string>({
      url: `${endpoint}/v1/projects/-/serviceAccounts/${encodeURIComponent(req.email)}:signJwt`,
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      data: JSON.stringify({payload}),
      timeout: req.timeoutMs,
      retry: false,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
      maxRedirects: 0,
    });
    text = res.data;
  } catch (e) {
    throw classify(e, 'IAM Credentials signJwt');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError(
      'IAM Credentials signJwt answered a body that is not JSON',
      false,
    );
  }
  const parsed = SignJwtResponse.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError(
      'IAM Credentials signJwt answered an unexpected body shape',
      false,
    );
  }
  return parsed.data.signedJwt;
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
  const transporter = new gaxios.Gaxios({
    fetchImplementation,
    retry: false,
    maxRedirects: 0,
  });
  const asked = clock.now();
  let text: string;
  try {
    const res = await transporter.request<string>({
      url: tokenUrl,
      method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      data: new URLSearchParams({grant_type: JWT_BEARER, assertion}).toString(),
      timeout: timeoutMs,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
    });
    text = res.data;
  } catch (e) {
    throw withOAuthCode(e, 'OAuth 2.0 token endpoint');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered a body that is not JSON',
      false,
    );
  }
  const parsed = TokenResponse.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered an unexpected body shape',
      false,
    );
  }
  const expiresAt = asked + parsed.data.expires_in * 1000;
  if (!(expiresAt > clock.now())) {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered a token that has already expired',
      false,
    );
  }
  return {accessToken: parsed.data.access_token, expiresAt};
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
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: [...req.scopes],
    subject: req.subject,
    transporter: tokenTransporter(tokenUrl, req.timeoutMs),
  });
  let credentials;
  try {
    credentials = await client.authorize();
  } catch (e) {
    throw withOAuthCode(e, 'OAuth 2.0 token endpoint');
  }
  const accessToken = credentials.access_token;
  // The library stamps expiry_date with the wall clock; carry it over to tvm's clock.
  const expiresAt =
    typeof credentials.expiry_date === 'number'
      ? clock.now() + (credentials.expiry_date - Date.now())
      : undefined;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered without a token',
      false,
    );
  }
  if (typeof expiresAt !== 'number' || !(expiresAt > clock.now())) {
    throw new UpstreamError(
      'OAuth 2.0 token endpoint answered without a future expiry',
      false,
    );
  }
  return {accessToken, expiresAt};
}

/** A failure classified, with Google's OAuth error code in its message when it sent one. */
function withOAuthCode(e: unknown, what: string): UpstreamError {
  const err = classify(e, what);
  const code = oauthErrorCode(e);
  return code
    ? new UpstreamError(`${err.message} (${code})`, err.retryable, err.status)
    : err;
}
