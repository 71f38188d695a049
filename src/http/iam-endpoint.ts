/**
 * POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken as HTTP: the IAM
 * Service Account Credentials API's request and answer, served by the
 * `generateAccessToken` grant (src/grants/generate-access-token.ts) under the same
 * policy, authentication, limits, vending and audit as /token; refusals in Google's
 * error envelope.
 */
import type {Request, Response} from 'express';
import * as z from 'zod';
import {TvmError} from '../errors.ts';
import {
  generateAccessToken,
  type GenerateAccessTokenAsk,
} from '../grants/generate-access-token.ts';
import {vend} from '../grants/vend.ts';
import {policyInForce} from '../policy-source.ts';
import {callerString} from '../text.ts';
import {sendGoogleError} from './errors.ts';
import {beginAudit, readRawBody, refuseRepeatedMembers} from './request.ts';
import type {RouteDeps} from './token-endpoint.ts';

/** `/v1/projects/-/serviceAccounts/{email}:generateAccessToken`. */
export const GENERATE_ACCESS_TOKEN_PATH =
  /^\/v1\/projects\/-\/serviceAccounts\/([^/]{1,320}):generateAccessToken$/;

/** The handler of generateAccessToken; answers every outcome itself, never rejects. */
export function createIamEndpoint(deps: RouteDeps) {
  const {trail} = deps;
  return async function handleGenerateAccessToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const audit = beginAudit(trail, req, res);
    audit.grantType = generateAccessToken.name;
    try {
      const account = accountOf(req.path);
      audit.requestedAccount = callerString(account);
      const policy = await policyInForce(deps.policies);
      const caller = await deps.authenticate(
        policy,
        generateAccessToken.credentials({
          authorization: req.headers.authorization,
        }),
        req.ip ?? '',
        audit,
      );
      await deps.limiters.perClient(req, res, caller.client.id);
      const ask = await readGenerateAccessToken(req, account);
      const decision = generateAccessToken.decide(policy, ask, caller);
      const vended = await vend(deps, decision, audit);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({
        accessToken: vended.accessToken,
        expireTime: rfc3339Seconds(vended.expiresAt),
      });
      trail.allow(audit);
    } catch (e) {
      if (res.headersSent) return;
      trail.deny(audit, sendGoogleError(res, e), e);
    }
  };
}

/** The service account the path names; a malformed escape names none (403 later). */
export function accountOf(path: string): string {
  const segment = GENERATE_ACCESS_TOKEN_PATH.exec(path)?.[1] ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const bodySchema = z.strictObject({
  scope: z.array(z.string().min(1).max(256)).min(1).max(32),
  lifetime: z
    .string()
    .regex(/^[0-9]{1,6}(\.0{1,9})?s$/)
    .optional(),
  // Python google-auth sends `"delegates": null`; Google reads null and [] as none.
  delegates: z.array(z.string()).nullable().optional(),
});

/** Reads and checks the JSON body. Throws TvmError invalid_request (400), 413, 415. */
async function readGenerateAccessToken(
  req: Request,
  account: string,
): Promise<GenerateAccessTokenAsk> {
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
      `invalid ${at}: ${issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : 'expected scope: [string, ...], lifetime: "<seconds>s", delegates: []'}`,
    );
  }
  if ((r.data.delegates ?? []).length > 0) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'delegates are not supported: the caller is authorized by the policy directly',
    );
  }
  return {
    account,
    scope: r.data.scope.join(' '),
    lifetimeSeconds:
      r.data.lifetime === undefined
        ? undefined
        : Number(r.data.lifetime.replace(/(\.0+)?s$/, '')),
  };
}

/** Google's expireTime: RFC 3339 in UTC, seconds precision. */
function rfc3339Seconds(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000)
    .toISOString()
    .replace('.000Z', 'Z');
}
