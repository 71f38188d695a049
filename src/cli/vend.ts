/**
 * Asks tvm for an access token for a profile: client credentials with the API key
 * (HTTP Basic, RFC 6749 §2.3.1) or a client assertion (RFC 7523 §2.2), or a token
 * exchange with the OIDC token (RFC 8693). tvm's OAuth error (RFC 6749 §5.2) is turned
 * into one line that names the profile and says what to do next.
 */

import {CliError} from './errors.ts';
import type {Profile} from './profiles.ts';
import {
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  isOidc,
  readApiKey,
  readOidcToken,
  signAssertion,
} from './subject-token.ts';

type Env = Readonly<Record<string, string | undefined>>;

const REQUEST_TIMEOUT_MS = 30_000;

/** What is asked of tvm: the profile's defaults overridden by the command line. */
export interface TokenRequest {
  /** The service account (tvm's `audience` parameter). */
  readonly audience: string;
  readonly scopes: readonly string[];
  readonly lifetime?: number;
  /** Domain-wide delegation: the user the token acts for (tvm's `subject`). */
  readonly subject?: string;
  /** A Credential Access Boundary, as JSON (tvm's `access_boundary`). */
  readonly accessBoundary?: string;
  /** An ID token instead of an access token: its audience, and the email claim. */
  readonly idToken?: {
    readonly audience: string;
    readonly includeEmail: boolean;
  };
}

/** RFC 8693's type of an ID token: what tvm is asked for, and says it issued. */
const TOKEN_TYPE_ISSUED_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** A token as tvm handed it out, with its absolute expiry. */
export interface Token {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly scope?: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/** Fetches a new token from tvm. */
export async function requestToken(
  profile: Profile,
  request: TokenRequest,
  env: Env,
  now: () => number,
): Promise<Token> {
  const form = new URLSearchParams();
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const c = profile.credential;
  if (isOidc(profile)) {
    form.set('grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange');
    form.set('subject_token', await readOidcToken(profile));
    form.set(
      'subject_token_type',
      profile.oidcTokenType === 'id_token'
        ? TOKEN_TYPE_ID_TOKEN
        : TOKEN_TYPE_JWT,
    );
  } else if (c.kind === 'private_key_file') {
    form.set('grant_type', 'client_credentials');
    form.set(
      'client_assertion_type',
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    form.set('client_assertion', await signAssertion(profile, now()));
  } else {
    form.set('grant_type', 'client_credentials');
    headers.authorization = basic(
      profile.clientId!,
      await readApiKey(profile, env),
    );
  }
  form.set('audience', request.audience);
  if (request.idToken) {
    // tvm's ID tokens: the type asked for, the audience in RFC 8707's resource.
    form.set('requested_token_type', TOKEN_TYPE_ISSUED_ID_TOKEN);
    form.set('resource', request.idToken.audience);
    if (request.idToken.includeEmail) form.set('include_email', 'true');
  } else {
    if (request.scopes.length > 0) form.set('scope', request.scopes.join(' '));
    if (request.lifetime !== undefined) {
      form.set('lifetime', String(request.lifetime));
    }
    if (request.subject !== undefined) form.set('subject', request.subject);
    if (request.accessBoundary !== undefined) {
      form.set('access_boundary', request.accessBoundary);
    }
  }
  const sentAt = now();
  const url = `${profile.url}/token`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    const err = e as Error;
    const why =
      err.name === 'TimeoutError'
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000}s`
        : err.cause instanceof Error
          ? err.cause.message
          : err.message;
    throw new CliError(
      'ERR_UNREACHABLE',
      `cannot reach tvm at ${url} (profile ${profile.name}): ${why}; check the profile's url`,
    );
  }
  const body = await readJson(res);
  if (res.status !== 200) {
    throw denial(profile, res.status, body, request.idToken !== undefined);
  }
  const accessToken = body?.access_token;
  const expiresIn = body?.expires_in;
  if (
    typeof accessToken !== 'string' ||
    !accessToken ||
    typeof expiresIn !== 'number' ||
    !(expiresIn > 0)
  ) {
    throw new CliError(
      'ERR_UNREACHABLE',
      `${url} (profile ${profile.name}) answered 200 without a token response: is the url tvm's?`,
    );
  }
  if (
    request.idToken &&
    body?.issued_token_type !== TOKEN_TYPE_ISSUED_ID_TOKEN
  ) {
    throw new CliError(
      'ERR_UNREACHABLE',
      `${url} (profile ${profile.name}) answered without an ID token: does that tvm vend ID tokens?`,
    );
  }
  return {
    accessToken,
    tokenType: typeof body.token_type === 'string' ? body.token_type : 'Bearer',
    scope: typeof body.scope === 'string' ? body.scope : undefined,
    // From when the request was sent: the token is never thought younger than it is.
    expiresAt: sentAt + expiresIn * 1000,
  };
}

async function readJson(
  res: Response,
): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = JSON.parse(await res.text());
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** What to do next, by OAuth error code. */
const NEXT: Readonly<Record<string, string>> = {
  invalid_client:
    'check the profile\'s client_id and its key (a new one from "tvm keygen", its sha256 in the policy)',
  invalid_grant:
    'check the OIDC token source: issuer, audience and claims must match the policy',
  invalid_target:
    'ask for a service account the policy grants this client ("tvm policy explain" shows why)',
  invalid_scope:
    'ask only for scopes the policy grants this client ("tvm policy explain" shows why)',
  invalid_request: 'fix the request (audience, scope, lifetime)',
  slow_down: 'wait and retry: tvm is rate limiting this client',
  temporarily_unavailable: 'retry later: Google refused or failed',
};

function denial(
  profile: Profile,
  status: number,
  body: Record<string, unknown> | undefined,
  idToken: boolean,
): CliError {
  const error = typeof body?.error === 'string' ? clean(body.error) : '';
  const description =
    typeof body?.error_description === 'string'
      ? clean(body.error_description)
      : '';
  if (!error) {
    return new CliError(
      'ERR_UNREACHABLE',
      `${profile.url}/token (profile ${profile.name}) answered HTTP ${status} without an OAuth error: is the url tvm's?`,
    );
  }
  const next =
    idToken && error === 'invalid_target'
      ? 'ask for an audience (and email) the policy allows this client ("tvm policy explain --id-token" shows why)'
      : NEXT[error];
  return new CliError(
    'ERR_DENIED',
    `tvm refused (profile ${profile.name}): ${error}${description ? `: ${description}` : ''}${next ? `; ${next}` : ''}`,
  );
}

/** Printable, one line, bounded: tvm's text comes over the network. */
function clean(s: string): string {
  return [...s]
    .map(ch => (ch < ' ' || ch === '\u007f' ? ' ' : ch))
    .join('')
    .slice(0, 500);
}

/** The HTTP Basic header for `id`:`secret` (RFC 6749 §2.3.1 form-encoding). */
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}
