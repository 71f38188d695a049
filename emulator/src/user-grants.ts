/**
 * The token endpoint's refresh-token grant (RFC 6749 §6) with Google's answers and
 * refusals, Google's revocation endpoint, what tokeninfo says of a user's access
 * token, and the one route that is not Google's: local mode registering a consent made
 * elsewhere (`tvm import-user --local`). The registry they use is users.ts.
 */
import type {Context, HttpRequest} from './context.ts';
import {EXPIRED_LIFETIME_S} from './context.ts';
import {apiError, oauthError} from './errors.ts';
import {signJwt} from './keys.ts';
import {json, type Reply} from './reply.ts';
import {GOOGLE_ISSUER} from './tokens.ts';
import {
  REFRESH_TOKEN_SHAPE,
  REVOKED,
  USER_TOKEN_LIFETIME_S,
  type Consent,
} from './users.ts';

/**
 * The refresh-token grant: the client authenticates with its id and secret (in the
 * body, or HTTP Basic), the refresh token must be live and the client's, and `scope`,
 * when sent, must be a subset of the consent (RFC 6749 §6); the token carries exactly
 * the scopes asked (all of the consent when none are). Google's refusals, in the order
 * they are checked.
 */
export async function handleRefreshGrant(
  form: URLSearchParams,
  req: HttpRequest,
  ctx: Context,
  expired: boolean,
): Promise<Reply> {
  const users = ctx.state.users;
  const basic = basicCredentials(req.headers.authorization);
  const clientId = form.get('client_id') ?? basic?.id;
  const clientSecret = form.get('client_secret') ?? basic?.secret;
  if (!clientId) {
    return oauthError(
      400,
      'invalid_request',
      'Could not determine client ID from request.',
    );
  }
  const known = users.clientSecret(clientId);
  if (known === undefined) {
    return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
  }
  if (!clientSecret) {
    return oauthError(400, 'invalid_request', 'client_secret is missing.');
  }
  if (clientSecret !== known) {
    return oauthError(401, 'invalid_client', 'Unauthorized');
  }
  const refreshToken = form.get('refresh_token');
  if (!refreshToken) {
    return oauthError(
      400,
      'invalid_request',
      'Missing required parameter: refresh_token',
    );
  }
  const consent = users.consentForRefresh(refreshToken);
  if (consent === undefined && !REFRESH_TOKEN_SHAPE.test(refreshToken)) {
    return oauthError(400, 'invalid_grant', 'Bad Request');
  }
  if (consent === undefined || consent.revoked) {
    return oauthError(400, 'invalid_grant', REVOKED);
  }
  if (consent.clientId !== clientId) {
    return oauthError(400, 'unauthorized_client', 'Unauthorized');
  }
  const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
  if (asked.some(s => !consent.scopes.has(s))) {
    return oauthError(400, 'invalid_scope', 'Bad Request');
  }
  const scopes = asked.length > 0 ? [...new Set(asked)] : [...consent.scopes];
  const lifetime = expired ? EXPIRED_LIFETIME_S : USER_TOKEN_LIFETIME_S;
  const {token, record} = ctx.state.tokens.issue(
    consent.email,
    scopes,
    lifetime * 1000,
    {clientId: consent.clientId},
  );
  users.noteToken(token, consent, record.expiresAt);
  const body: Record<string, unknown> = {
    access_token: token,
    expires_in: lifetime,
    scope: scopes.join(' '),
    token_type: 'Bearer',
  };
  if (scopes.includes('openid')) {
    body.id_token = await userIdToken(ctx, consent, scopes, lifetime);
  }
  return json(200, body);
}

/** An OpenID Connect ID token of the user for the client (`openid` was asked). */
function userIdToken(
  ctx: Context,
  consent: Consent,
  scopes: readonly string[],
  lifetime: number,
): Promise<string> {
  const iat = Math.floor(ctx.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: GOOGLE_ISSUER,
    azp: consent.clientId,
    aud: consent.clientId,
    sub: consent.userId,
    iat: lifetime < 0 ? iat + lifetime - 3600 : iat,
    exp: iat + (lifetime < 0 ? lifetime : 3600),
  };
  if (hasEmailScope(scopes)) {
    claims.email = consent.email;
    claims.email_verified = true;
  }
  return signJwt(claims, ctx.googleKey);
}

/** Whether the scopes let the client see the user's email. */
function hasEmailScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) {
    if (s === 'email' || s === 'https://www.googleapis.com/auth/userinfo.email')
      return true;
  }
  return false;
}

/**
 * tokeninfo of a user's access token: `azp`/`aud` are the OAuth client, `sub` the
 * user's account id, `access_type` offline (it came from a refresh token); `email`
 * only when the token carries an email scope; invalid once the consent is revoked.
 * Undefined for any other token.
 */
export function userTokenInfo(
  token: string,
  ctx: Context,
  exp: number,
  nowS: number,
): Reply | undefined {
  const consent = ctx.state.users.tokenConsent(token);
  const record = ctx.state.tokens.get(token);
  if (consent === undefined || record === undefined) return undefined;
  // Revoking the consent ends its access tokens too, as at Google.
  if (consent.revoked) return oauthError(400, 'invalid_token', 'Invalid Value');
  return json(200, {
    azp: consent.clientId,
    aud: consent.clientId,
    sub: consent.userId,
    scope: record.scopes.join(' '),
    exp: String(exp),
    expires_in: String(Math.max(0, exp - nowS)),
    ...(hasEmailScope(record.scopes)
      ? {email: consent.email, email_verified: 'true'}
      : {}),
    access_type: 'offline',
  });
}

/**
 * Google's revocation endpoint (`POST /revoke`, `token` in the form or the query): a
 * refresh token, or an access token issued under a consent, ends the consent.
 */
export async function handleRevoke(
  req: HttpRequest,
  ctx: Context,
): Promise<Reply> {
  if (req.method !== 'POST') {
    return oauthError(405, 'invalid_request', 'Method not allowed');
  }
  const token =
    new URLSearchParams(req.body).get('token') ?? req.query.get('token');
  if (!token) {
    return oauthError(
      400,
      'invalid_request',
      'Missing required parameter: token',
    );
  }
  if (!ctx.state.users.revokeToken(token)) {
    return oauthError(400, 'invalid_token', 'Token expired or revoked');
  }
  return json(200, {});
}

/**
 * Not Google's: `POST /emulator/v1/userConsents` registers a consent made elsewhere
 * (local mode's `tvm import-user --local`): JSON `{email, scopes, client_id,
 * client_secret, refresh_token, quota_project_id?, secret?}`; `secret` names a secret
 * the emulator's default identity (tvm's runtime account in local mode) may then read,
 * as the Terraform module grants in production.
 */
export async function handleConsentRegistration(
  req: HttpRequest,
  ctx: Context,
): Promise<Reply> {
  if (req.method !== 'POST') return apiError(405, 'Method not allowed.');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(req.body) as Record<string, unknown>;
  } catch {
    return apiError(400, 'Invalid JSON payload received.');
  }
  const str = (k: string) =>
    typeof body?.[k] === 'string' ? (body[k] as string) : undefined;
  const scopes = body?.scopes;
  if (
    !Array.isArray(scopes) ||
    !scopes.every((s): s is string => typeof s === 'string')
  ) {
    return apiError(400, 'scopes must be a list of strings.');
  }
  try {
    const secret = str('secret');
    const runtime = ctx.state.defaultIdentity();
    if (secret !== undefined && runtime !== undefined) {
      ctx.state.grantSecretAccessor(`serviceAccount:${runtime.email}`, secret);
    }
    const file = ctx.state.users.grantConsent({
      email: str('email') ?? '',
      scopes,
      clientId: str('client_id') ?? '',
      clientSecret: str('client_secret') ?? '',
      refreshToken: str('refresh_token') ?? '',
      quotaProjectId: str('quota_project_id'),
    });
    const consent = ctx.state.users.consent(file.refresh_token)!;
    return json(200, {email: consent.email, userId: consent.userId});
  } catch (e) {
    return apiError(400, e instanceof TypeError ? e.message : 'Bad request.');
  }
}

/** `Authorization: Basic` client credentials (RFC 6749 §2.3.1), if sent. */
function basicCredentials(
  header: string | string[] | undefined,
): {id: string; secret: string} | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(value ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return {id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1))};
}
