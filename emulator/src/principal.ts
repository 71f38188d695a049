/**
 * Who is calling: the bearer credential of an IAM Credentials or Secret Manager request
 * resolved to a service account. Two kinds are accepted, as at Google:
 *  - an access token this emulator issued (metadata server, /token, generateAccessToken),
 *    unexpired;
 *  - a self-signed JWT (what google-auth-library sends to gRPC APIs when it holds a
 *    key): RS256, signed by a non-deleted key the emulator issued for `iss`, `sub` = `iss`,
 *    `aud` the API's audience or a `scope` claim, unexpired and at most one hour long.
 */
import {
  compactVerify,
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
} from 'jose';
import type {ServiceAccount, State} from './state.ts';

/** The resolved caller. `scopes` lists what the credential is good for. */
export interface Principal {
  readonly email: string;
  readonly scopes: readonly string[];
  readonly kind: 'access_token' | 'self_signed_jwt';
}

/** Why a credential was refused: `missing` (none sent) or `invalid` (anything else). */
export type AuthFailure = 'missing' | 'invalid';

/** Allowed clock skew for a self-signed JWT's iat (seconds). */
const LEEWAY_S = 60;

/** The bearer token in an Authorization header value, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * Resolves the credential in an Authorization header. `audiences` are the `aud`
 * values a self-signed JWT may carry for the calling API.
 */
export async function authenticate(
  state: State,
  authorization: string | undefined,
  options: {nowMs: number; audiences: readonly string[]},
): Promise<Principal | AuthFailure> {
  const token = bearerToken(authorization);
  if (token === undefined)
    return authorization === undefined ? 'missing' : 'invalid';
  const record = state.tokens.getValid(token);
  if (record !== undefined) {
    const account = state.account(record.email);
    if (account?.disabled === true) return 'invalid';
    return {email: record.email, scopes: record.scopes, kind: 'access_token'};
  }
  if (token.split('.').length !== 3) return 'invalid';
  return verifySelfSignedJwt(state, token, options);
}

async function verifySelfSignedJwt(
  state: State,
  token: string,
  options: {nowMs: number; audiences: readonly string[]},
): Promise<Principal | AuthFailure> {
  let claims: JWTPayload;
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'RS256') return 'invalid';
    kid = header.kid;
    claims = decodeJwt(token);
  } catch {
    return 'invalid';
  }
  const iss = claims.iss;
  if (typeof iss !== 'string') return 'invalid';
  if (claims.sub !== undefined && claims.sub !== iss) return 'invalid';
  const account = state.account(iss);
  if (account === undefined || account.disabled) return 'invalid';
  if (!(await signedByAccountKey(account, token, kid))) return 'invalid';
  if (!timesAcceptable(claims, options.nowMs)) return 'invalid';
  const scope =
    typeof claims.scope === 'string'
      ? claims.scope.split(' ').filter(Boolean)
      : [];
  const audOk =
    typeof claims.aud === 'string' && options.audiences.includes(claims.aud);
  if (!audOk && scope.length === 0) return 'invalid';
  return {email: iss, scopes: scope, kind: 'self_signed_jwt'};
}

/**
 * Whether `token` verifies under one of the account's non-deleted keys (the one named
 * by `kid` when given, as google-auth-library sets it to private_key_id).
 */
export async function signedByAccountKey(
  account: ServiceAccount,
  token: string,
  kid: string | undefined,
): Promise<boolean> {
  const candidates =
    kid === undefined
      ? [...account.keys.values()]
      : [account.keys.get(kid)].filter(k => k !== undefined);
  for (const key of candidates) {
    if (key.deleted) continue;
    try {
      await compactVerify(token, key.publicKey, {algorithms: ['RS256']});
      return true;
    } catch {
      // try the next key
    }
  }
  return false;
}

function timesAcceptable(claims: JWTPayload, nowMs: number): boolean {
  const now = Math.floor(nowMs / 1000);
  const {iat, exp} = claims;
  if (typeof exp !== 'number' || exp <= now) return false;
  if (typeof iat === 'number') {
    if (iat > now + LEEWAY_S || exp - iat > 3600) return false;
  } else if (exp - now > 3600) {
    return false;
  }
  return true;
}

/** Whether the credential's scopes include one of `accepted` (self-signed with `aud`: yes). */
export function hasScope(
  principal: Principal,
  accepted: readonly string[],
): boolean {
  if (principal.kind === 'self_signed_jwt' && principal.scopes.length === 0)
    return true;
  return principal.scopes.some(s => accepted.includes(s));
}
