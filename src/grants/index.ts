/**
 * The grants of the token endpoint, by `grant_type` (RFC 6749 §4.4, RFC 8693 §2),
 * and the IAM Credentials-shaped `generateAccessToken` and `generateIdToken`.
 */
import {TvmError} from '../errors.ts';
import {clientCredentials} from './client-credentials.ts';
import type {TokenGrant} from './grant.ts';
import {tokenExchange} from './token-exchange.ts';

export {generateAccessToken} from './generate-access-token.ts';
export {generateIdToken} from './generate-id-token.ts';
export type {Grant, TokenGrant, TokenRequest} from './grant.ts';

const TOKEN_GRANTS: ReadonlyMap<string, TokenGrant> = new Map(
  [clientCredentials, tokenExchange].map(g => [g.name, g]),
);

/** The grant a token request's `grant_type` selects. Throws invalid_request or unsupported_grant_type. */
export function tokenGrant(grantType: string | undefined): TokenGrant {
  if (grantType === undefined) {
    throw new TvmError('ERR_INVALID_REQUEST', 'grant_type is required');
  }
  const grant = TOKEN_GRANTS.get(grantType);
  if (!grant) {
    throw new TvmError(
      'ERR_UNSUPPORTED_GRANT_TYPE',
      'this grant type is not supported',
    );
  }
  return grant;
}
