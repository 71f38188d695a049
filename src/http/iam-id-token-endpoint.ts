/**
 * POST /v1/projects/-/serviceAccounts/{account}:generateIdToken as HTTP: the IAM
 * Service Account Credentials API's request and answer, served by the
 * `generateIdToken` grant (src/grants/generate-id-token.ts) under the same policy,
 * authentication, limits and audit as /token; refusals in Google's error envelope.
 */
import type {Request, Response} from 'express';
import * as z from 'zod';
import {TvmError} from '../errors.ts';
import {generateIdToken} from '../grants/generate-id-token.ts';
import {
  auditIdTokenAsk,
  checkAudience,
  vendIdToken,
  type IdTokenAsk,
  type IdTokenVendDeps,
} from '../grants/id-token.ts';
import {policyInForce} from '../policy-source.ts';
import {callerString} from '../text.ts';
import {sendGoogleError} from './errors.ts';
import {beginAudit, readRawBody, refuseRepeatedMembers} from './request.ts';
import type {RouteDeps} from './token-endpoint.ts';

/** `/v1/projects/-/serviceAccounts/{account}:generateIdToken`. */
export const GENERATE_ID_TOKEN_PATH =
  /^\/v1\/projects\/-\/serviceAccounts\/([^/]{1,320}):generateIdToken$/;

/** The handler of generateIdToken; answers every outcome itself, never rejects. */
export function createIamIdTokenEndpoint(deps: RouteDeps & IdTokenVendDeps) {
  const {trail} = deps;
  return async function handleGenerateIdToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const audit = beginAudit(trail, req, res);
    audit.grantType = generateIdToken.name;
    try {
      const account = idTokenAccountOf(req.path);
      audit.requestedAccount = callerString(account);
      const policy = await policyInForce(deps.policies);
      const caller = await deps.authenticate(
        policy,
        generateIdToken.credentials({
          authorization: req.headers.authorization,
        }),
        req.ip ?? '',
        audit,
      );
      await deps.limiters.perClient(req, res, caller.client.id);
      const ask = await readGenerateIdToken(req, account);
      auditIdTokenAsk(audit, ask);
      const decision = generateIdToken.decide(policy, ask, caller);
      const vended = await vendIdToken(deps, decision, audit);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({token: vended.idToken});
      trail.allow(audit);
    } catch (e) {
      if (res.headersSent) return;
      trail.deny(audit, sendGoogleError(res, e), e);
    }
  };
}

/** The service account the path names; a malformed escape names none (403 later). */
export function idTokenAccountOf(path: string): string {
  const segment = GENERATE_ID_TOKEN_PATH.exec(path)?.[1] ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const bodySchema = z.strictObject({
  audience: z.string().optional(),
  includeEmail: z.boolean().optional(),
  // google-auth-library sends it beside includeEmail: the email as `azp`.
  useEmailAzp: z.boolean().optional(),
  organizationNumberIncluded: z.boolean().optional(),
  // Python google-auth sends `"delegates": null`; Google reads null and [] as none.
  delegates: z.array(z.string()).nullable().optional(),
});

/** Reads and checks the JSON body. Throws TvmError invalid_request (400), 413, 415. */
async function readGenerateIdToken(
  req: Request,
  account: string,
): Promise<IdTokenAsk> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type.toLowerCase() !== 'application/json') {
    throw new TvmError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      'the body must be application/json',
    );
  }
  const text = (await readRawBody(req)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TvmError('ERR_INVALID_REQUEST', 'the body is not valid JSON');
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    refuseRepeatedMembers(text, 'field');
  }
  const r = bodySchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.join('.') || 'body';
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `invalid ${at}: ${issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : 'expected audience: "<audience>", includeEmail: true|false, delegates: []'}`,
    );
  }
  if ((r.data.delegates ?? []).length > 0) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'delegates are not supported: the caller is authorized by the policy directly',
    );
  }
  if (r.data.organizationNumberIncluded === true) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'organizationNumberIncluded is not supported',
    );
  }
  return {
    account,
    audience: checkAudience(r.data.audience, 'audience'),
    // The email is in the token (as `email` or as `azp`) or not at all.
    includeEmail: r.data.includeEmail === true || r.data.useEmailAzp === true,
  };
}
