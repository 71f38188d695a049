/**
 * `client_credentials` (RFC 6749 §4.4): the client authenticates itself — an API key
 * (Basic or body, §2.3.1) or a signed client assertion (RFC 7523 §2.2) — and asks for
 * a service account's token in its own name.
 */
import {readClientCredentials} from '../auth/client-credentials.ts';
import {authorize} from './authorize.ts';
import {tokenAccess, type TokenGrant} from './grant.ts';

export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';

export const clientCredentials: TokenGrant = Object.freeze<TokenGrant>({
  name: GRANT_CLIENT_CREDENTIALS,
  credentials: ({params, authorization}) => ({
    kind: 'client' as const,
    client: readClientCredentials(authorization, params),
  }),
  decide: (policy, {params}, caller) =>
    authorize(policy, caller.client, tokenAccess(params)),
});
