/**
 * The IAM Service Account Credentials API's `generateIdToken`, served by tvm: the
 * caller presents an API key or an OIDC token as a bearer, names the service account
 * in the path and the audience (and `includeEmail`) in the body; the policy's
 * `id_token` block decides. google-auth-library's `Impersonated#fetchIdToken`, with
 * its `endpoint` option pointed at tvm, then works unmodified.
 */
import {bearerOf} from './generate-access-token.ts';
import type {Grant} from './grant.ts';
import {
  authorizeIdToken,
  type IdTokenAsk,
  type IdTokenDecision,
} from './id-token.ts';

/** What the route reads before authentication. */
export interface GenerateIdTokenRequest {
  readonly authorization: string | undefined;
}

export const generateIdToken: Grant<
  GenerateIdTokenRequest,
  IdTokenAsk,
  IdTokenDecision
> = Object.freeze<Grant<GenerateIdTokenRequest, IdTokenAsk, IdTokenDecision>>({
  name: 'iamcredentials.generateIdToken',
  credentials: ({authorization}) => ({
    kind: 'bearer' as const,
    credential: bearerOf(authorization),
  }),
  decide: (policy, ask, caller) => authorizeIdToken(policy, caller.client, ask),
});
