/**
 * Token exchange (RFC 8693 §2): the subject token authenticates the client — an OIDC
 * token from the caller's own identity provider, or one of tvm's API keys (tvm's own
 * subject token type, so API-key clients can use Google's `external_account`
 * configurations). Client authentication is optional (an `external_account`
 * configuration with client_id and client_secret sends Basic); when present, it must
 * name the same client as the subject token.
 */
import {readClientCredentials} from '../auth/client-credentials.ts';
import {TvmError} from '../errors.ts';
import {trimAsciiWhitespace} from '../text.ts';
import {TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT} from '../oidc/subject-token.ts';
import {
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_TVM_API_KEY,
} from '../token-types.ts';
import {authorize} from './authorize.ts';
import {tokenAccess, type TokenGrant, type TokenRequest} from './grant.ts';

export const GRANT_TOKEN_EXCHANGE =
  'urn:ietf:params:oauth:grant-type:token-exchange';

export const tokenExchange: TokenGrant = Object.freeze<TokenGrant>({
  name: GRANT_TOKEN_EXCHANGE,
  credentials,
  decide: (policy, {params}, caller) =>
    authorize(policy, caller.client, tokenAccess(params)),
});

function credentials({params, authorization}: TokenRequest) {
  // A token file written by `echo "$TOKEN" > file` ends in a newline, and Google's
  // client libraries send the file as it is (Google's STS accepts it too).
  const raw = params.get('subject_token');
  const token =
    raw === undefined ? undefined : trimAsciiWhitespace(raw) || undefined;
  const tokenType = params.get('subject_token_type');
  if (token === undefined || tokenType === undefined) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'subject_token and subject_token_type are required',
    );
  }
  if (
    tokenType !== TOKEN_TYPE_JWT &&
    tokenType !== TOKEN_TYPE_ID_TOKEN &&
    tokenType !== TOKEN_TYPE_TVM_API_KEY
  ) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `subject_token_type must be ${TOKEN_TYPE_JWT}, ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_TVM_API_KEY}`,
    );
  }
  const requested = params.get('requested_token_type');
  // An ID token is asked for with its own type (src/grants/id-token.ts).
  if (
    requested !== undefined &&
    requested !== TOKEN_TYPE_ACCESS_TOKEN &&
    requested !== TOKEN_TYPE_ID_TOKEN
  ) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN} or ${TOKEN_TYPE_ID_TOKEN}`,
    );
  }
  if (params.has('actor_token') || params.has('actor_token_type')) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'actor_token (delegation) is not supported',
    );
  }
  const withClientAuth =
    authorization !== undefined ||
    params.has('client_secret') ||
    params.has('client_assertion') ||
    params.has('client_assertion_type');
  return {
    kind: 'subject' as const,
    token,
    tokenType:
      tokenType === TOKEN_TYPE_TVM_API_KEY
        ? ('api_key' as const)
        : ('jwt' as const),
    client: withClientAuth
      ? readClientCredentials(authorization, params)
      : undefined,
    clientId: params.get('client_id'),
  };
}
