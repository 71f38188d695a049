/**
 * POST /v1/projects/-/serviceAccounts/{account}:generateIdToken as HTTP: the IAM
 * Service Account Credentials API's request and answer, served by the
 * `generateIdToken` grant (src/grants/generate-id-token.ts) under the same policy,
 * authentication, limits and audit as /token; refusals in Google's error envelope
 * (src/http/iam-route.ts).
 */
import * as z from '../zod.ts';
import {TvmError} from '../errors.ts';
import {generateIdToken} from '../grants/generate-id-token.ts';
import {
  auditIdTokenAsk,
  checkAudience,
  vendIdToken,
} from '../grants/id-token.ts';
import {accountIn, createIamRoute} from './iam-route.ts';
import type {RouteDeps} from './token-endpoint.ts';

/** `/v1/projects/-/serviceAccounts/{account}:generateIdToken`. */
export const GENERATE_ID_TOKEN_PATH =
  /^\/v1\/projects\/-\/serviceAccounts\/([^/]{1,320}):generateIdToken$/;

/** The handler of generateIdToken; answers every outcome itself, never rejects. */
export function createIamIdTokenEndpoint(deps: RouteDeps) {
  return createIamRoute(deps, {
    path: GENERATE_ID_TOKEN_PATH,
    grant: generateIdToken,
    body: z.strictObject({
      audience: z.optional(z.string()),
      includeEmail: z.optional(z.boolean()),
      // google-auth-library sends it beside includeEmail: the email as `azp`.
      useEmailAzp: z.optional(z.boolean()),
      organizationNumberIncluded: z.optional(z.boolean()),
      // Python google-auth sends `"delegates": null`; Google reads null and [] as none.
      delegates: z.optional(z.nullable(z.array(z.string()))),
    }),
    expected:
      'expected audience: "<audience>", includeEmail: true|false, delegates: []',
    ask: (body, account) => {
      if (body.organizationNumberIncluded === true) {
        throw new TvmError(
          'ERR_INVALID_REQUEST',
          'organizationNumberIncluded is not supported',
        );
      }
      return {
        account,
        audience: checkAudience(body.audience, 'audience'),
        // The email is in the token (as `email` or as `azp`) or not at all.
        includeEmail: body.includeEmail === true || body.useEmailAzp === true,
      };
    },
    noteAsk: auditIdTokenAsk,
    vend: vendIdToken,
    answer: vended => ({token: vended.idToken}),
  });
}

/** The service account the path names; a malformed escape names none (403 later). */
export function idTokenAccountOf(path: string): string {
  return accountIn(GENERATE_ID_TOKEN_PATH, path);
}
