/**
 * Google's tokeninfo endpoint (`/tokeninfo`, `/oauth2/v3/tokeninfo`): what a token
 * this emulator issued is good for. Access tokens come from the token store (a
 * delegated token shows the user as `email` and the account's client ID as `azp`; a
 * downscoped one also its boundary, an emulator addition); ID tokens are verified
 * against the emulator's Google key. Also the JWKS endpoints.
 */
import {compactVerify, type JWTPayload} from 'jose';
import {EXPIRED_LIFETIME_S, type Context, type HttpRequest} from './context.ts';
import {oauthError} from './errors.ts';
import type {Fault} from './faults.ts';
import {publicJwk, type SigningKey} from './keys.ts';
import {bearerToken} from './principal.ts';
import {json, type Reply} from './reply.ts';
import {selfSignedCertificate} from './x509.ts';
import {userTokenInfo} from './user-grants.ts';

const INVALID = (): Reply => oauthError(400, 'invalid_token', 'Invalid Value');

/** The body of a `status` fault on tokeninfo. */
export function tokeninfoStatusReply(status: number): Reply {
  return status < 500
    ? oauthError(status, 'invalid_token', 'Invalid Value')
    : oauthError(status, 'internal_failure', 'Backend Error');
}

/**
 * Answers GET or POST tokeninfo with `access_token` or `id_token`. Under the
 * `expiredToken` fault it answers 200 but reports an expiry a minute in the past.
 */
export async function handleTokeninfo(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  const params =
    req.method === 'POST' ? new URLSearchParams(req.body) : req.query;
  const nowS = Math.floor(ctx.now() / 1000);
  const skew = fault?.kind === 'expiredToken';
  // OAuth2Client.getTokenInfo sends the token as a bearer header on an empty POST.
  const accessToken =
    params.get('access_token') ??
    (params.has('id_token')
      ? undefined
      : bearerToken(firstHeader(req.headers.authorization)));
  if (accessToken !== undefined) {
    const record = ctx.state.tokens.get(accessToken);
    if (record === undefined) return INVALID();
    const exp = skew
      ? nowS + EXPIRED_LIFETIME_S
      : Math.floor(record.expiresAt / 1000);
    if (!skew && exp <= nowS) return INVALID();
    const user = userTokenInfo(accessToken, ctx, exp, nowS);
    if (user !== undefined) return user;
    // A delegated token was issued to the account's client ID and acts as the user.
    const clientId =
      record.clientId ??
      ctx.state.account(record.email)?.uniqueId ??
      record.email;
    return json(200, {
      azp: clientId,
      aud: clientId,
      scope: record.scopes.join(' '),
      exp: String(exp),
      expires_in: String(Math.max(0, exp - nowS)),
      email: record.email,
      email_verified: 'true',
      access_type: 'online',
      // Not Google's: the boundary a downscoped token carries, which Google's
      // tokeninfo does not show, so a test can see what STS applied.
      ...(record.accessBoundary === undefined
        ? {}
        : {access_boundary: JSON.stringify(record.accessBoundary)}),
    });
  }
  const idToken = params.get('id_token');
  if (idToken !== null) return idTokenInfo(idToken, ctx, nowS, skew);
  return oauthError(
    400,
    'invalid_request',
    'Either access_token, id_token, or token_handle required',
  );
}

async function idTokenInfo(
  token: string,
  ctx: Context,
  nowS: number,
  skew: boolean,
): Promise<Reply> {
  let payload: JWTPayload;
  let header: Record<string, unknown>;
  try {
    const verified = await compactVerify(token, ctx.googleKey.publicKey, {
      algorithms: ['RS256'],
    });
    payload = JSON.parse(
      new TextDecoder().decode(verified.payload),
    ) as JWTPayload;
    header = verified.protectedHeader;
  } catch {
    return INVALID();
  }
  const exp = skew ? nowS + EXPIRED_LIFETIME_S : payload.exp;
  if (typeof exp !== 'number' || (!skew && exp <= nowS)) return INVALID();
  const info: Record<string, string> = {};
  for (const [k, v] of Object.entries({...payload, exp})) info[k] = String(v);
  info.alg = String(header.alg);
  info.kid = String(header.kid);
  info.typ = 'JWT';
  return json(200, info);
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * How long Google lets its signing keys be cached: its certificate endpoints answer
 * `Cache-Control: public, max-age=…` (hours), which google-auth-library honours.
 */
const CERTS_MAX_AGE_S = 21_600;

/** A certificate-endpoint answer: public and cacheable, unlike token answers. */
function certsReply(value: unknown): Reply {
  const reply = json(200, value);
  return {
    ...reply,
    headers: {
      ...reply.headers,
      'cache-control': `public, max-age=${CERTS_MAX_AGE_S}, must-revalidate, no-transform`,
    },
  };
}

/** GET /oauth2/v3/certs: the JWKS of the emulator's Google key. */
export function handleCerts(ctx: Context): Reply {
  return certsReply({
    keys: [publicJwk(ctx.googleKey.kid, ctx.googleKey.publicKey)],
  });
}

/** One certificate per Google key, made on first use and kept (as Google rotates slowly). */
const certificates = new WeakMap<SigningKey, string>();

/**
 * GET /oauth2/v1/certs: the same key as a self-signed X.509 certificate in PEM, keyed
 * by key id: what `OAuth2Client#verifyIdToken` fetches under Node.
 */
export function handlePemCerts(ctx: Context): Reply {
  const key = ctx.googleKey;
  let pem = certificates.get(key);
  if (pem === undefined) {
    pem = selfSignedCertificate(key, 'accounts.google.com', ctx.now());
    certificates.set(key, pem);
  }
  return certsReply({[key.kid]: pem});
}

/**
 * GET /service_accounts/v1/jwk/{email}: the account's public keys (user-managed,
 * non-deleted, and the Google-managed signJwt key), as Google publishes them.
 */
export function handleAccountJwks(email: string, ctx: Context): Reply {
  const account = ctx.state.account(email);
  if (account === undefined) return json(404, {error: 'not found'});
  const keys = [...account.keys.entries()]
    .filter(([, key]) => !key.deleted)
    .map(([kid, key]) => publicJwk(kid, key.publicKey));
  if (account.systemKey !== undefined) {
    keys.push(publicJwk(account.systemKey.kid, account.systemKey.publicKey));
  }
  return json(200, {keys});
}
