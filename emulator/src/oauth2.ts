/**
 * The OAuth 2.0 token endpoint: the JWT-bearer grant (RFC 7523 §2.1, Google's "service
 * account key" flow) checks the assertion's RS256 signature against a key the emulator
 * issued for `iss` (or its Google-managed `signJwt` key), its audience, its iat/exp
 * window, its scope and a delegation `sub` (src/delegation.ts), and answers with
 * Google's bodies (`invalid_grant`, `invalid_scope`, `unauthorized_client`); the
 * refresh-token grant (a user's consent, RFC 6749 §6) lives in `users.ts`.
 */
import {decodeJwt, decodeProtectedHeader, type JWTPayload} from 'jose';
import {EXPIRED_LIFETIME_S, type Context, type HttpRequest} from './context.ts';
import {oauthError} from './errors.ts';
import type {Fault} from './faults.ts';
import {delegatedUser, signedByAccount} from './delegation.ts';
import {json, type Reply} from './reply.ts';
import type {WorkspaceUser} from './state.ts';
import {issueIdToken} from './tokens.ts';
import {handleRefreshGrant} from './user-grants.ts';

/** Google's token URL; assertions may name it or the emulator's own token URL. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const REFRESH_TOKEN = 'refresh_token';

/** Clock skew tolerated on iat and exp (seconds). */
const LEEWAY_S = 60;

const TOKEN_LIFETIME_S = 3599;

const BAD_SIGNATURE = 'Invalid JWT Signature.';
const BAD_TIMES =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
const NO_ACCOUNT = 'Invalid grant: account not found';

/** The body of a `status` fault on the token endpoint. */
export function oauth2StatusReply(status: number): Reply {
  if (status === 401) return oauthError(401, 'invalid_client', 'Unauthorized');
  if (status < 500) return oauthError(status, 'invalid_request', 'Bad Request');
  return oauthError(status, 'internal_failure', 'Backend Error');
}

/** Answers POST /token. */
export async function handleToken(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  if (req.method !== 'POST') {
    return oauthError(405, 'invalid_request', 'Method not allowed');
  }
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith('application/x-www-form-urlencoded')) {
    return oauthError(400, 'invalid_request', 'Bad Request');
  }
  const form = new URLSearchParams(req.body);
  const grantType = form.get('grant_type');
  if (grantType === REFRESH_TOKEN) {
    return handleRefreshGrant(form, req, ctx, fault?.kind === 'expiredToken');
  }
  if (grantType !== JWT_BEARER) {
    return oauthError(
      400,
      'unsupported_grant_type',
      `Invalid grant_type: ${grantType ?? ''}`,
    );
  }
  const assertion = form.get('assertion');
  if (assertion === null || assertion === '') {
    return oauthError(
      400,
      'invalid_request',
      'Missing required parameter: assertion',
    );
  }
  return grant(assertion, ctx, fault?.kind === 'expiredToken');
}

async function grant(
  assertion: string,
  ctx: Context,
  expired: boolean,
): Promise<Reply> {
  let claims: JWTPayload;
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(assertion);
    claims = decodeJwt(assertion);
    if (header.alg !== 'RS256')
      return oauthError(400, 'invalid_grant', BAD_SIGNATURE);
    kid = header.kid;
  } catch {
    return oauthError(
      400,
      'invalid_grant',
      'Invalid JWT: could not be decoded.',
    );
  }
  const account =
    typeof claims.iss === 'string' ? ctx.state.account(claims.iss) : undefined;
  if (account === undefined || account.disabled) {
    return oauthError(400, 'invalid_grant', NO_ACCOUNT);
  }
  // The signature is checked before any claim is trusted (RFC 7523 §3 item 9).
  if (!(await signedByAccount(account, assertion, kid))) {
    return oauthError(400, 'invalid_grant', BAD_SIGNATURE);
  }
  // Google's own URL only, as Google checks it: a client that put the (redirected)
  // URL it actually posts to into aud would pass here and fail in production.
  if (claims.aud !== GOOGLE_TOKEN_URL) {
    return oauthError(
      400,
      'invalid_grant',
      'Invalid JWT: Failed audience check.',
    );
  }
  if (!timesAcceptable(claims, ctx.now())) {
    return oauthError(400, 'invalid_grant', BAD_TIMES);
  }
  const scopes =
    typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter(Boolean)
      : [];
  // Domain-wide delegation: a `sub` other than the account names the user to act for.
  let user: WorkspaceUser | undefined;
  if (claims.sub !== undefined && claims.sub !== account.email) {
    const delegated = delegatedUser(ctx.state, account, claims.sub, scopes);
    if (!('uniqueId' in delegated)) return delegated;
    user = delegated;
  }
  const targetAudience = claims.target_audience;
  if (typeof targetAudience === 'string' && targetAudience !== '') {
    const idToken = await issueIdToken(ctx.googleKey, account, targetAudience, {
      nowMs: ctx.now(),
      includeEmail: true,
      azpEmail: true,
      ...(expired ? {lifetimeSeconds: EXPIRED_LIFETIME_S} : {}),
    });
    return json(200, {id_token: idToken});
  }
  if (scopes.length === 0) {
    return oauthError(
      400,
      'invalid_scope',
      'Empty or missing scope not allowed.',
    );
  }
  const lifetime = expired ? EXPIRED_LIFETIME_S : TOKEN_LIFETIME_S;
  const {token} = ctx.state.tokens.issue(
    user?.email ?? account.email,
    scopes,
    lifetime * 1000,
    user === undefined
      ? {}
      : {clientId: account.uniqueId, delegatedBy: account.email},
  );
  return json(200, {
    access_token: token,
    expires_in: lifetime,
    token_type: 'Bearer',
  });
}

/** iat/exp present, exp - iat ≤ 1 h, not expired, iat not in the future (± leeway). */
function timesAcceptable(claims: JWTPayload, nowMs: number): boolean {
  const now = Math.floor(nowMs / 1000);
  const {iat, exp} = claims;
  if (typeof iat !== 'number' || typeof exp !== 'number') return false;
  if (exp - iat > 3600 || exp < iat) return false;
  if (exp + LEEWAY_S < now) return false;
  if (iat - LEEWAY_S > now) return false;
  return true;
}
