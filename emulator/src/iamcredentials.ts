/**
 * IAM Service Account Credentials API v1 (keyless minting):
 * POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken | :generateIdToken |
 * :signJwt. The caller's bearer credential must be one the emulator issued; its principal
 * must hold roles/iam.serviceAccountTokenCreator on the first hop, each delegate on the
 * next, the last on the target.
 */
import {z} from 'zod';
import {EXPIRED_LIFETIME_S, type Context, type HttpRequest} from './context.ts';
import {apiError, badRequest, errorInfo, unauthenticated} from './errors.ts';
import type {Fault} from './faults.ts';
import {signJwt} from './keys.ts';
import {CLOUD_PLATFORM} from './metadata.ts';
import {authenticate, hasScope, type Principal} from './principal.ts';
import {json, type Reply} from './reply.ts';
import type {ServiceAccount} from './state.ts';
import {issueIdToken} from './tokens.ts';

/** The three methods emulated. */
export type IamMethod = 'generateAccessToken' | 'generateIdToken' | 'signJwt';

const IAM_AUDIENCE = 'https://iamcredentials.googleapis.com/';
const IAM_SCOPES = [CLOUD_PLATFORM, 'https://www.googleapis.com/auth/iam'];
const DEFAULT_LIFETIME_S = 3600;
const MAX_LIFETIME_S = 3600;
const EXTENDED_MAX_LIFETIME_S = 43200;
const SIGN_JWT_MAX_EXP_S = 12 * 3600;

const PERMISSION: Readonly<Record<IamMethod, string>> = {
  generateAccessToken: 'iam.serviceAccounts.getAccessToken',
  generateIdToken: 'iam.serviceAccounts.getOpenIdToken',
  signJwt: 'iam.serviceAccounts.signJwt',
};

const Delegates = z.array(z.string()).optional();
const AccessTokenBody = z.object({
  delegates: Delegates,
  scope: z.array(z.string()).optional(),
  lifetime: z.string().optional(),
});
const IdTokenBody = z.object({
  delegates: Delegates,
  audience: z.string().optional(),
  includeEmail: z.boolean().optional(),
  useEmailAzp: z.boolean().optional(),
});
const SignJwtBody = z.object({
  delegates: Delegates,
  payload: z.string().optional(),
});

/**
 * A percent-decoded path segment; a malformed one stays as it is, so it names no
 * account and is answered 404 as Google does, never a 500.
 */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Parses the method path; undefined when it is not an IAM Credentials call. */
export function parseIamPath(
  path: string,
): {email: string; method: IamMethod} | undefined {
  const m =
    /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):(generateAccessToken|generateIdToken|signJwt)$/.exec(
      path,
    );
  if (m === null || m[1] === undefined) return undefined;
  return {email: decodePathSegment(m[1]), method: m[2] as IamMethod};
}

/** The body of a `status` fault on an IAM Credentials method. */
export function iamStatusReply(status: number): Reply {
  return apiError(
    status,
    status >= 500 ? 'Internal error encountered.' : 'Emulated fault.',
  );
}

/** Answers one IAM Credentials call. */
export async function handleIam(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  const call = parseIamPath(req.path);
  if (call === undefined)
    return apiError(404, 'Requested entity was not found.');
  if (req.method !== 'POST')
    return apiError(405, 'Method not allowed.', {status: 'UNKNOWN'});
  const principal = await authenticate(
    ctx.state,
    firstHeader(req.headers.authorization),
    {
      nowMs: ctx.now(),
      audiences: [IAM_AUDIENCE],
    },
  );
  if (principal === 'missing' || principal === 'invalid') {
    return unauthenticated(principal === 'missing');
  }
  if (!hasScope(principal, IAM_SCOPES)) return insufficientScopes();
  let body: unknown;
  try {
    body = JSON.parse(req.body === '' ? '{}' : req.body);
  } catch {
    return apiError(400, 'Invalid JSON payload received.');
  }
  const target = ctx.state.account(call.email);
  if (target === undefined)
    return apiError(404, 'Requested entity was not found.');
  const expired = fault?.kind === 'expiredToken';
  switch (call.method) {
    case 'generateAccessToken':
      return generateAccessToken(ctx, principal, target, body, expired);
    case 'generateIdToken':
      return generateIdToken(ctx, principal, target, body, expired);
    case 'signJwt':
      return signJwtMethod(ctx, principal, target, body, expired);
  }
}

async function generateAccessToken(
  ctx: Context,
  principal: Principal,
  target: ServiceAccount,
  raw: unknown,
  expired: boolean,
): Promise<Reply> {
  const body = AccessTokenBody.safeParse(raw);
  if (!body.success) return invalidArgument('request', 'Invalid request body.');
  const denied = checkChain(
    ctx,
    principal,
    target,
    body.data.delegates ?? [],
    'generateAccessToken',
  );
  if (denied !== undefined) return denied;
  const scopes = body.data.scope ?? [];
  if (scopes.length === 0) return invalidArgument('scope', 'Scope required.');
  const lifetime = parseLifetime(body.data.lifetime);
  if (lifetime === undefined) {
    return invalidArgument(
      'lifetime',
      'Invalid lifetime; expected a duration like "3600s".',
    );
  }
  const max = target.lifetimeExtension
    ? EXTENDED_MAX_LIFETIME_S
    : MAX_LIFETIME_S;
  if (lifetime > max) {
    return invalidArgument(
      'lifetime',
      `The lifetime of the access token must be between 1 and ${max} seconds.`,
    );
  }
  const lifetimeS = expired ? EXPIRED_LIFETIME_S : lifetime;
  const {token, record} = ctx.state.tokens.issue(
    target.email,
    scopes,
    lifetimeS * 1000,
  );
  return json(200, {accessToken: token, expireTime: rfc3339(record.expiresAt)});
}

async function generateIdToken(
  ctx: Context,
  principal: Principal,
  target: ServiceAccount,
  raw: unknown,
  expired: boolean,
): Promise<Reply> {
  const body = IdTokenBody.safeParse(raw);
  if (!body.success) return invalidArgument('request', 'Invalid request body.');
  const denied = checkChain(
    ctx,
    principal,
    target,
    body.data.delegates ?? [],
    'generateIdToken',
  );
  if (denied !== undefined) return denied;
  const audience = body.data.audience ?? '';
  if (audience === '') return invalidArgument('audience', 'Audience required.');
  const token = await issueIdToken(ctx.googleKey, target, audience, {
    nowMs: ctx.now(),
    includeEmail: body.data.includeEmail ?? false,
    azpEmail: body.data.useEmailAzp ?? false,
    ...(expired ? {lifetimeSeconds: EXPIRED_LIFETIME_S} : {}),
  });
  return json(200, {token});
}

async function signJwtMethod(
  ctx: Context,
  principal: Principal,
  target: ServiceAccount,
  raw: unknown,
  expired: boolean,
): Promise<Reply> {
  const body = SignJwtBody.safeParse(raw);
  if (!body.success) return invalidArgument('request', 'Invalid request body.');
  const denied = checkChain(
    ctx,
    principal,
    target,
    body.data.delegates ?? [],
    'signJwt',
  );
  if (denied !== undefined) return denied;
  let claims: unknown;
  try {
    claims = JSON.parse(body.data.payload ?? '');
  } catch {
    return invalidArgument('payload', 'Payload must be a JSON object.');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    return invalidArgument('payload', 'Payload must be a JSON object.');
  }
  const payload = {...(claims as Record<string, unknown>)};
  const now = Math.floor(ctx.now() / 1000);
  if (payload.exp !== undefined) {
    if (typeof payload.exp === 'number' && payload.exp < now) {
      return invalidArgument('payload', 'Expiration cannot be in the past.');
    }
    if (
      typeof payload.exp !== 'number' ||
      payload.exp > now + SIGN_JWT_MAX_EXP_S
    ) {
      return invalidArgument(
        'payload',
        'Expiration cannot be more than 12 hours in the future.',
      );
    }
  }
  if (expired) payload.exp = now + EXPIRED_LIFETIME_S;
  const key = ctx.state.systemKey(target);
  return json(200, {keyId: key.kid, signedJwt: await signJwt(payload, key)});
}

/**
 * The permission walk along `caller → delegates… → target`; a 404 for an unknown hop,
 * a 403 Google-shaped body for a missing binding, undefined when allowed. A disabled
 * target is refused like a missing permission (Google's exact answer unverified).
 */
function checkChain(
  ctx: Context,
  principal: Principal,
  target: ServiceAccount,
  delegates: readonly string[],
  method: IamMethod,
): Reply | undefined {
  let caller = `serviceAccount:${principal.email}`;
  const hops: ServiceAccount[] = [];
  for (const delegate of delegates) {
    const email = delegate.replace(/^projects\/-\/serviceAccounts\//, '');
    const account = ctx.state.account(email);
    if (account === undefined)
      return apiError(404, 'Requested entity was not found.');
    hops.push(account);
  }
  hops.push(target);
  for (const hop of hops) {
    if (hop.disabled || !ctx.state.isTokenCreator(caller, hop.email)) {
      return permissionDenied(PERMISSION[method]);
    }
    caller = `serviceAccount:${hop.email}`;
  }
  return undefined;
}

/** Google's 403 with the IAM_PERMISSION_DENIED ErrorInfo. */
function permissionDenied(permission: string): Reply {
  return apiError(
    403,
    `Permission '${permission}' denied on resource (or it may not exist).`,
    {
      details: [
        errorInfo('IAM_PERMISSION_DENIED', 'iam.googleapis.com', {permission}),
      ],
    },
  );
}

function insufficientScopes(): Reply {
  return apiError(403, 'Request had insufficient authentication scopes.', {
    details: [
      errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', 'googleapis.com', {
        service: 'iamcredentials.googleapis.com',
      }),
    ],
  });
}

function invalidArgument(field: string, description: string): Reply {
  return apiError(400, description, {
    details: [badRequest(field, description)],
  });
}

/** A google.protobuf.Duration in JSON ("600s", "1.5s"); whole seconds, rounded up. */
function parseLifetime(value: string | undefined): number | undefined {
  if (value === undefined) return DEFAULT_LIFETIME_S;
  const m = /^(\d{1,12})(?:\.(\d{1,9}))?s$/.exec(value);
  if (m === null) return undefined;
  const seconds = Math.ceil(Number(`${m[1]}.${m[2] ?? '0'}`));
  return seconds >= 1 ? seconds : undefined;
}

/** RFC 3339 in UTC without fractional seconds, as Google writes expireTime. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000)
    .toISOString()
    .replace('.000Z', 'Z');
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
