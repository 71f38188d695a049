/**
 * POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken as HTTP: the IAM
 * Service Account Credentials API's request and answer, served by the
 * `generateAccessToken` grant (src/grants/generate-access-token.ts) under the same
 * policy, authentication, limits, vending and audit as /token; refusals in Google's
 * error envelope (src/http/iam-route.ts).
 */
import * as z from '../zod.ts';
import {generateAccessToken} from '../grants/generate-access-token.ts';
import {vend} from '../grants/vend.ts';
import {accountIn, createIamRoute} from './iam-route.ts';
import type {RouteDeps} from './token-endpoint.ts';

/** `/v1/projects/-/serviceAccounts/{email}:generateAccessToken`. */
export const GENERATE_ACCESS_TOKEN_PATH =
  /^\/v1\/projects\/-\/serviceAccounts\/([^/]{1,320}):generateAccessToken$/;

/** The handler of generateAccessToken; answers every outcome itself, never rejects. */
export function createIamEndpoint(deps: RouteDeps) {
  return createIamRoute(deps, {
    path: GENERATE_ACCESS_TOKEN_PATH,
    grant: generateAccessToken,
    body: z.strictObject({
      scope: z
        .array(z.string().check(z.minLength(1), z.maxLength(256)))
        .check(z.minLength(1), z.maxLength(32)),
      lifetime: z.optional(
        z.string().check(z.regex(/^[0-9]{1,6}(\.0{1,9})?s$/)),
      ),
      // Python google-auth sends `"delegates": null`; Google reads null and [] as none.
      delegates: z.optional(z.nullable(z.array(z.string()))),
    }),
    expected:
      'expected scope: [string, ...], lifetime: "<seconds>s", delegates: []',
    ask: (body, account) => ({
      account,
      scope: body.scope.join(' '),
      lifetimeSeconds:
        body.lifetime === undefined
          ? undefined
          : Number(body.lifetime.replace(/(\.0+)?s$/, '')),
    }),
    vend,
    answer: vended => ({
      accessToken: vended.accessToken,
      expireTime: rfc3339Seconds(vended.expiresAt),
    }),
  });
}

/** The service account the path names; a malformed escape names none (403 later). */
export function accountOf(path: string): string {
  return accountIn(GENERATE_ACCESS_TOKEN_PATH, path);
}

/** Google's expireTime: RFC 3339 in UTC, seconds precision. */
function rfc3339Seconds(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000)
    .toISOString()
    .replace('.000Z', 'Z');
}
