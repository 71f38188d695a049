/**
 * A user's access token from Google's OAuth 2.0 token endpoint: the refresh-token grant
 * (RFC 6749 §6) with the OAuth client's id and secret in the body (§2.3.1, as Google's
 * libraries send them) and `scope` naming exactly the scopes wanted, a subset of what
 * the user consented to. One attempt per call; retries and the deadline are
 * `withRetry`'s job. google-auth-library's UserRefreshClient cannot send `scope` and
 * retries by itself, so the request is made here, through the library's own gaxios.
 */
import {gaxios} from 'google-auth-library';
import * as z from '../zod.ts';
import type {Clock} from '../clock.ts';
import type {AuthorizedUser} from './authorized-user.ts';
import type {IssuedToken} from './iam-credentials.ts';
import {fetchImplementation} from './fetch.ts';
import {
  UpstreamError,
  classify,
  isRetryableStatus,
  parseAnswer,
} from './upstream.ts';

const WHAT = 'OAuth 2.0 token endpoint (refresh_token grant)';
/** Google's answers are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const RefreshResponse = z.object({
  access_token: z.string().check(z.minLength(1), z.maxLength(4096)),
  expires_in: z.number().check(z.int()),
  token_type: z.optional(z.string()),
  scope: z.optional(z.string().check(z.maxLength(8192))),
});

/** OAuth errors that say the credential itself is refused (RFC 6749 §5.2). */
const CREDENTIAL_REFUSED: ReadonlySet<string> = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
]);

/**
 * Google refused the refresh for good (a 4xx with an OAuth error): the refresh token
 * expired or was revoked (`invalid_grant`), the OAuth client is gone or its secret
 * changed (`invalid_client`, `unauthorized_client`), or the scopes asked are beyond the
 * user's consent (`invalid_scope`). `description` is Google's own text, made safe to log.
 */
export class RefreshRefused extends UpstreamError {
  /** The OAuth 2.0 `error` Google answered (RFC 6749 §5.2). */
  readonly error: string;
  readonly description: string | undefined;

  constructor(status: number, error: string, description: string | undefined) {
    super(
      `${WHAT} answered HTTP ${status} ${error}${description ? `: ${description}` : ''}`,
      false,
      status,
    );
    this.error = error;
    this.description = description;
  }

  /** True when the credential itself is refused, whatever the scopes asked. */
  get credentialRefused(): boolean {
    return CREDENTIAL_REFUSED.has(this.error);
  }
}

/**
 * Refreshes `user`'s consent for exactly `scopes` at `tokenUrl`. The answer is checked:
 * a token, a future expiry, and (when Google names them, RFC 6749 §5.1) exactly the
 * scopes asked — never a token wider or narrower than the decision.
 */
export async function refreshUserToken(
  user: AuthorizedUser,
  scopes: readonly string[],
  tokenUrl: string,
  clock: Clock,
  timeoutMs: number,
): Promise<IssuedToken> {
  const transport = new gaxios.Gaxios({
    fetchImplementation,
    timeout: timeoutMs,
    retry: false,
    maxRedirects: 0,
  });
  let status: number;
  let text: string;
  try {
    const res = await transport.request<string>({
      url: tokenUrl,
      method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      data: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: user.clientId,
        client_secret: user.clientSecret,
        refresh_token: user.refreshToken,
        scope: scopes.join(' '),
      }).toString(),
      responseType: 'text',
      maxContentLength: MAX_RESPONSE_BYTES,
      validateStatus: () => true,
    });
    status = res.status;
    text = typeof res.data === 'string' ? res.data : '';
  } catch (e) {
    throw classify(e, WHAT);
  }
  if (status !== 200) throw refusal(status, text);
  return readAnswer(text, scopes, clock);
}

/** A non-200 answer: a retryable failure, or Google's refusal with its OAuth error. */
function refusal(status: number, text: string): UpstreamError {
  if (isRetryableStatus(status)) {
    return new UpstreamError(`${WHAT} answered HTTP ${status}`, true, status);
  }
  let body: {error?: unknown; error_description?: unknown} = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not JSON: the status says enough.
  }
  const error = typeof body?.error === 'string' ? body.error : '';
  // Only Google's word on the credential or the scopes pauses them; anything else (an
  // HTML 404 from a wrong endpoint, a proxy's page, another OAuth error) is a plain
  // upstream refusal, with the status for the operator.
  if (!CREDENTIAL_REFUSED.has(error) && error !== 'invalid_scope') {
    return new UpstreamError(
      `${WHAT} answered HTTP ${status}${/^[a-z_]{1,64}$/.test(error) ? ` ${error}` : ''}`,
      false,
      status,
    );
  }
  return new RefreshRefused(
    status,
    error,
    safeDescription(body?.error_description),
  );
}

/** Google's error_description for a log line: printable ASCII, at most 120 characters. */
function safeDescription(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const clean = v.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}

function readAnswer(
  text: string,
  scopes: readonly string[],
  clock: Clock,
): IssuedToken {
  const {
    access_token: accessToken,
    expires_in: expiresIn,
    scope,
  } = parseAnswer(text, RefreshResponse, WHAT);
  if (scope !== undefined && !sameScopes(scope, scopes)) {
    // Paused like a scope Google refused: asking again would get the same answer.
    throw new RefreshRefused(
      200,
      'invalid_scope',
      `granted other scopes than asked (${scope.split(' ').filter(Boolean).length} for ${scopes.length})`,
    );
  }
  if (!(expiresIn > 0)) {
    throw new UpstreamError(
      `${WHAT} answered a token that has already expired`,
      false,
    );
  }
  return {accessToken, expiresAt: clock.now() + expiresIn * 1000};
}

function sameScopes(granted: string, asked: readonly string[]): boolean {
  // Google may add `openid` to what a refresh grants (it comes with an email scope);
  // it carries no API access. Anything else beyond what was asked is refused.
  const g = new Set(granted.split(' ').filter(Boolean));
  const want = new Set(asked);
  return (
    asked.every(s => g.has(s)) &&
    [...g].every(s => want.has(s) || s === 'openid')
  );
}
