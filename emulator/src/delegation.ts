/**
 * Domain-wide delegation at the OAuth 2.0 token endpoint: an assertion whose `sub`
 * names a Workspace user rather than the account itself asks for a token that acts
 * for that user. Google grants it only when a Workspace admin authorized the
 * account's client ID for delegation with every scope asked for, and the user exists.
 *
 * The assertion may be signed with one of the account's own keys (the key-file flow)
 * or by IAM Credentials `signJwt` with the account's Google-managed key (keyless
 * delegation): Google's token endpoint takes both.
 */
import {compactVerify} from 'jose';
import {oauthError} from './errors.ts';
import {signedByAccountKey} from './principal.ts';
import type {Reply} from './reply.ts';
import type {ServiceAccount, State, WorkspaceUser} from './state.ts';

const UNAUTHORIZED_CLIENT =
  'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.';
const NO_SUCH_USER = 'Invalid email or User ID';

/**
 * Whether `token` verifies under one of the account's live user-managed keys, or
 * under its Google-managed key (what `signJwt` signs with; `kid` names it).
 */
export async function signedByAccount(
  account: ServiceAccount,
  token: string,
  kid: string | undefined,
): Promise<boolean> {
  if (await signedByAccountKey(account, token, kid)) return true;
  const system = account.systemKey;
  if (system === undefined || (kid !== undefined && kid !== system.kid)) {
    return false;
  }
  try {
    await compactVerify(token, system.publicKey, {algorithms: ['RS256']});
    return true;
  } catch {
    return false;
  }
}

/**
 * The user an assertion's `sub` delegates to, or Google's refusal: 401
 * `unauthorized_client` when the account's client ID is not authorized for
 * domain-wide delegation at all, 400 `invalid_grant` for a subject that is no user
 * of the Workspace, 401 `unauthorized_client` when a scope asked for is not among
 * those authorized.
 */
export function delegatedUser(
  state: State,
  account: ServiceAccount,
  sub: unknown,
  scopes: readonly string[],
): WorkspaceUser | Reply {
  if (account.delegationScopes.size === 0) {
    return oauthError(401, 'unauthorized_client', UNAUTHORIZED_CLIENT);
  }
  const user = typeof sub === 'string' ? state.user(sub) : undefined;
  if (user === undefined) return oauthError(400, 'invalid_grant', NO_SUCH_USER);
  if (!scopes.every(s => account.delegationScopes.has(s))) {
    return oauthError(401, 'unauthorized_client', UNAUTHORIZED_CLIENT);
  }
  return user;
}
