/**
 * The IAM Service Account Credentials API's `generateAccessToken`, served by tvm: the
 * caller presents an API key or an OIDC token as a bearer, names the service account
 * in the path and the scopes and lifetime in the body; the same policy decides. Code
 * written against that API (google-auth-library's `Impersonated` with its `endpoint`
 * option) then works against tvm by changing one URL.
 */
import {TvmError} from '../errors.ts';
import {authorize} from './authorize.ts';
import type {Grant} from './grant.ts';

/** What a generateAccessToken request asks for. */
export interface GenerateAccessTokenAsk {
  /** The service account the path names (an email, or an alias). */
  readonly account: string;
  /** Space-separated scopes. */
  readonly scope: string;
  readonly lifetimeSeconds: number | undefined;
}

/** What the route reads before authentication. */
export interface GenerateAccessTokenRequest {
  readonly authorization: string | undefined;
}

export const generateAccessToken: Grant<
  GenerateAccessTokenRequest,
  GenerateAccessTokenAsk
> = Object.freeze<Grant<GenerateAccessTokenRequest, GenerateAccessTokenAsk>>({
  name: 'iamcredentials.generateAccessToken',
  credentials: ({authorization}) => ({
    kind: 'bearer' as const,
    credential: bearerOf(authorization),
  }),
  decide: (policy, ask, caller) =>
    authorize(policy, caller.client, {
      audience: ask.account,
      scope: ask.scope,
      lifetimeSeconds: ask.lifetimeSeconds,
    }),
});

/** The credential of `Authorization: Bearer <credential>` (RFC 6750 §2.1). */
export function bearerOf(authorization: string | undefined): string {
  const m = /^Bearer[ ]+([\x21-\x7e]{1,8192})[ ]*$/i.exec(authorization ?? '');
  if (!m) {
    throw new TvmError(
      'ERR_INVALID_CLIENT',
      'Request is missing required authentication credential. Expected an API key or an OIDC token as a bearer.',
    );
  }
  return m[1]!;
}
