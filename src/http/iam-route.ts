/**
 * The IAM Service Account Credentials API's routes as HTTP, one handler for each of
 * its methods tvm serves (src/http/iam-endpoint.ts, src/http/iam-id-token-endpoint.ts):
 * the account in the path, the caller's bearer authenticated and limited per client,
 * the JSON body read and checked, the method's grant deciding, the token vended, and
 * the answer (or a refusal in Google's error envelope) audited. What differs from one
 * method to the other is an `IamMethod`.
 */
import type * as z from '../zod.ts';
import type {Audit} from '../audit.ts';
import {TvmError} from '../errors.ts';
import type {Grant} from '../grants/grant.ts';
import {policyInForce} from '../policy-source.ts';
import {callerString} from '../text.ts';
import {sendGoogleError} from './errors.ts';
import {
  beginAudit,
  readRawBody,
  refuseRepeatedMembers,
  type Exchange,
} from './request.ts';
import {sendJson} from './respond.ts';
import type {RouteDeps} from './token-endpoint.ts';

/** What the route reads before authentication: the bearer. */
export interface IamRequest {
  readonly authorization: string | undefined;
}

/** One IAM Credentials method: its path, body, grant, vending and answer. */
export interface IamMethod<Body, Ask, D, V> {
  /** The path, the account (percent-encoded) its first group. */
  readonly path: RegExp;
  readonly grant: Grant<IamRequest, Ask, D>;
  /** The body's fields, every one of them (unknown fields are refused). */
  readonly body: z.ZodMiniType<Body & {delegates?: readonly string[] | null}>;
  /** What a body of the wrong shape is told to send instead. */
  readonly expected: string;
  /** What the body asks of `account`. Throws TvmError invalid_request. */
  ask(body: Body, account: string): Ask;
  /** Notes what was asked in the audit record, before the decision. */
  noteAsk?(audit: Audit, ask: Ask): void;
  /** Mints what the decision allows (src/grants/). */
  vend(deps: RouteDeps, decision: D, audit: Audit): V | Promise<V>;
  /** The 200 answer's JSON body. */
  answer(vended: V): unknown;
}

/** The handler of `method`; answers every outcome itself, never rejects. */
export function createIamRoute<Body, Ask, D, V>(
  deps: RouteDeps,
  method: IamMethod<Body, Ask, D, V>,
) {
  const {trail} = deps;
  const {grant} = method;
  return async function handleIamMethod(x: Exchange): Promise<void> {
    const {req, res} = x;
    const audit = beginAudit(trail, x);
    audit.grantType = grant.name;
    try {
      const account = accountIn(method.path, x.path);
      audit.requestedAccount = callerString(account);
      const policy = await policyInForce(deps.policies);
      const caller = await deps.authenticate(
        policy,
        grant.credentials({authorization: req.headers.authorization}),
        x.ip,
        audit,
      );
      await deps.limiters.perClient(res, caller.client.id);
      const ask = method.ask(
        await readIamBody(req, method.body, method.expected),
        account,
      );
      method.noteAsk?.(audit, ask);
      const decision = grant.decide(policy, ask, caller);
      const vended = await method.vend(deps, decision, audit);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      sendJson(res, 200, method.answer(vended));
      trail.allow(audit);
    } catch (e) {
      if (res.headersSent) return;
      trail.deny(audit, sendGoogleError(res, e), e);
    }
  };
}

/** The service account `path` names; a malformed escape names none (403 later). */
export function accountIn(pattern: RegExp, path: string): string {
  const segment = pattern.exec(path)?.[1] ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Reads and checks the JSON body against `schema`; `delegates` (Python google-auth
 * sends `null`, Google reads null and [] as none) must name none. Throws TvmError
 * invalid_request (400), 413, 415.
 */
async function readIamBody<Body>(
  req: Exchange['req'],
  schema: z.ZodMiniType<Body & {delegates?: readonly string[] | null}>,
  expected: string,
): Promise<Body> {
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
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.join('.') || 'body';
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `invalid ${at}: ${issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : expected}`,
    );
  }
  if ((r.data.delegates ?? []).length > 0) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'delegates are not supported: the caller is authorized by the policy directly',
    );
  }
  return r.data;
}
