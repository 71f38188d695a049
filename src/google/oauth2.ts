/**
 * Key-based minting: the OAuth 2.0 JWT-bearer grant (RFC 7523 §2.1) with a
 * service-account key, through google-auth-library's JWT client. The library
 * hard-codes Google's token URL; a request interceptor on its own transporter sends it
 * to the configured TVM_OAUTH2_TOKEN_URL instead (Private Service Connect, local mode).
 */
import {JWT, gaxios} from 'google-auth-library';
import {fetchImplementation} from './fetch.ts';
import {UpstreamError, classifyWithCode, oauthErrorCode} from './upstream.ts';
import type {IssuedToken} from './iam-credentials.ts';
import type {Clock} from '../clock.ts';
import {GOOGLE_ENDPOINTS} from './endpoints.ts';

/** The token URL google-auth-library's JWT client posts to. */
export const GOOGLE_TOKEN_URL = GOOGLE_ENDPOINTS.oauth2Token;

/** The fields of a service-account key file tvm uses. */
export interface ServiceAccountKey {
  readonly client_email: string;
  readonly private_key: string;
  readonly private_key_id: string | undefined;
}

/**
 * A transporter for google-auth-library that rewrites Google's token URL to
 * `tokenUrl` and caps each request at `timeoutMs`; retries stay with the caller.
 */
export function tokenTransporter(
  tokenUrl: string,
  timeoutMs: number,
): gaxios.Gaxios {
  const g = new gaxios.Gaxios({
    fetchImplementation,
    timeout: timeoutMs,
    retry: false,
    maxRedirects: 0,
  });
  if (tokenUrl !== GOOGLE_TOKEN_URL) {
    const target = new URL(tokenUrl);
    g.interceptors.request.add({
      resolved: async opts => {
        if (opts.url.href === GOOGLE_TOKEN_URL) opts.url = new URL(target.href);
        return opts;
      },
    });
  }
  return g;
}

/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs `form` (application/x-www-form-urlencoded) to `url`, one attempt, no
 * Authorization header, and answers the body as text, bounded. A failure is an
 * UpstreamError named `what`, carrying Google's OAuth error code when it sent one.
 */
export async function postForm(
  url: string,
  form: Record<string, string>,
  timeoutMs: number,
  what: string,
): Promise<string> {
  const transporter = new gaxios.Gaxios({
    fetchImplementation,
    retry: false,
    maxRedirects: 0,
  });
  try {
    const res = await transporter.request<string>({
      url,
      method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      data: new URLSearchParams(form).toString(),
      timeout: timeoutMs,
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
    });
    return res.data;
  } catch (e) {
    throw classifyWithCode(e, what, oauthErrorCode(e));
  }
}

/** What an assertion signed with a key asks for. */
export interface KeyAssertion {
  readonly scopes: readonly string[];
  /** The Workspace user to act for (domain-wide delegation). */
  readonly subject?: string;
}

/**
 * Exchanges a self-signed assertion for an access token. Google's JWT-bearer tokens
 * always live one hour; the answer is checked for a token and a future expiry.
 */
export async function jwtBearerToken(
  key: ServiceAccountKey,
  scopes: readonly string[],
  tokenUrl: string,
  clock: Clock,
  timeoutMs: number,
): Promise<IssuedToken> {
  return keyAssertionToken(key, {scopes}, tokenUrl, clock, timeoutMs, false);
}

/**
 * A token for `ask` with `key`, through google-auth-library's JWT client, its token
 * URL rewritten to `tokenUrl`. With `withOAuthCode`, a refusal's message carries
 * Google's OAuth error code (`unauthorized_client`, `invalid_grant`).
 */
export async function keyAssertionToken(
  key: ServiceAccountKey,
  ask: KeyAssertion,
  tokenUrl: string,
  clock: Clock,
  timeoutMs: number,
  withOAuthCode: boolean,
): Promise<IssuedToken> {
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: [...ask.scopes],
    subject: ask.subject,
    transporter: tokenTransporter(tokenUrl, timeoutMs),
  });
  let credentials;
  try {
    credentials = await client.authorize();
  } catch (e) {
    throw classifyWithCode(
      e,
      'OAuth 2.0 token endpoint',
      withOAuthCode ? oauthErrorCode(e) : undefined,
    );
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
