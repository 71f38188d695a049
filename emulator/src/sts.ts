/**
 * Google's Security Token Service, `POST https://sts.googleapis.com/v1/token`, as far
 * as downscoping goes: RFC 8693 token exchange of a Google access token for one that
 * carries a Credential Access Boundary (`options` = `{"accessBoundary": {...}}`). The
 * boundary is validated as Google documents it (1 to 10 rules; each a full resource
 * name, a list of `inRole:` roles, an optional CEL availability condition of at most
 * 2048 characters) and kept with the new token, whose tokeninfo then shows it.
 *
 * Not emulated: the exchange of external (workload identity federation) credentials.
 */
import {celProblem, MAX_CEL_EXPRESSION_CHARS} from '../../src/policy/cel.ts';
import type {Context, HttpRequest} from './context.ts';
import {oauthError} from './errors.ts';
import type {Fault} from './faults.ts';
import {json, type Reply} from './reply.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** Google's limit on the rules of one boundary. */
export const MAX_ACCESS_BOUNDARY_RULES = 10;

/** A Cloud Storage bucket's full resource name: the one resource boundaries apply to. */
const FULL_RESOURCE_NAME =
  /^\/\/storage\.googleapis\.com\/projects\/_\/buckets\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** `inRole:` and a predefined or custom role name. */
const IN_ROLE =
  /^inRole:(?:roles|projects\/[^/\s]+\/roles|organizations\/[0-9]+\/roles)\/[A-Za-z0-9_.]+$/;

/** The body of a `status` fault on STS. */
export function stsStatusReply(status: number): Reply {
  return status < 500
    ? oauthError(status, 'invalid_request', 'Bad Request')
    : oauthError(status, 'internal_failure', 'Backend Error');
}

/** Answers POST /v1/token. */
export async function handleSts(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  if (req.method !== 'POST') {
    return oauthError(405, 'invalid_request', 'Method not allowed');
  }
  const params = readParams(req);
  if (params === undefined) {
    return oauthError(400, 'invalid_request', 'Bad Request');
  }
  const grantType = params.get('grant_type');
  if (grantType !== TOKEN_EXCHANGE) {
    return oauthError(
      400,
      'unsupported_grant_type',
      `Invalid value for "grant_type": ${grantType ?? ''}`,
    );
  }
  if (params.get('requested_token_type') !== ACCESS_TOKEN) {
    return invalidRequest(
      'Invalid value for "requested_token_type". The value must be urn:ietf:params:oauth:token-type:access_token.',
    );
  }
  if (params.get('subject_token_type') !== ACCESS_TOKEN) {
    return invalidRequest(
      'Invalid value for "subject_token_type". Only a Google access token (urn:ietf:params:oauth:token-type:access_token) can be downscoped here.',
    );
  }
  const subjectToken = params.get('subject_token') ?? '';
  if (subjectToken === '') {
    return invalidRequest('Missing required parameter: subject_token');
  }
  const boundary = parseOptions(params.get('options'));
  if (typeof boundary === 'string') return invalidRequest(boundary);
  const source = ctx.state.tokens.getValid(subjectToken);
  if (source === undefined) {
    return oauthError(
      400,
      'invalid_grant',
      'The access token is invalid or has expired.',
    );
  }
  if (source.accessBoundary !== undefined) {
    return invalidRequest(
      'The subject token already carries security attributes; another Credential Access Boundary cannot be applied.',
    );
  }
  // The downscoped token lives exactly as long as the token it came from.
  const lifetimeMs =
    fault?.kind === 'expiredToken' ? -60_000 : source.expiresAt - ctx.now();
  const {token} = ctx.state.tokens.issue(
    source.email,
    source.scopes,
    // The source's very instant, not one read from the clock again.
    fault?.kind === 'expiredToken' ? lifetimeMs : {expiresAt: source.expiresAt},
    {
      ...(source.clientId === undefined ? {} : {clientId: source.clientId}),
      ...(source.delegatedBy === undefined
        ? {}
        : {delegatedBy: source.delegatedBy}),
      accessBoundary: boundary,
    },
  );
  // Google answers expires_in only when the source token is a service account's; for
  // a user's (a delegated token) the caller keeps the source token's expiry.
  const expiresIn = Math.max(0, Math.floor(lifetimeMs / 1000));
  return json(200, {
    access_token: token,
    issued_token_type: ACCESS_TOKEN,
    token_type: 'Bearer',
    ...(source.delegatedBy === undefined ? {expires_in: expiresIn} : {}),
  });
}

/** The form (as google-auth-library sends it) or the REST API's JSON body. */
function readParams(req: HttpRequest): Map<string, string> | undefined {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return new Map(new URLSearchParams(req.body));
  }
  if (type.startsWith('application/json')) {
    let body: unknown;
    try {
      body = JSON.parse(req.body);
    } catch {
      return undefined;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return undefined;
    }
    const names: Record<string, string> = {
      grantType: 'grant_type',
      requestedTokenType: 'requested_token_type',
      subjectToken: 'subject_token',
      subjectTokenType: 'subject_token_type',
      options: 'options',
      scope: 'scope',
      audience: 'audience',
    };
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(body)) {
      const name = names[k];
      if (name !== undefined && typeof v === 'string') out.set(name, v);
    }
    return out;
  }
  return undefined;
}

/**
 * The Credential Access Boundary of `options`, normalised to what was sent (unknown
 * members refused), or why it cannot be used.
 */
function parseOptions(text: string | undefined): unknown {
  if (text === undefined || text === '') {
    return 'Missing required parameter: options. A Credential Access Boundary is required to downscope an access token.';
  }
  let options: unknown;
  try {
    options = JSON.parse(text);
  } catch {
    return 'Invalid value for "options". The value must be a JSON object.';
  }
  if (!isObject(options)) {
    return 'Invalid value for "options". The value must be a JSON object.';
  }
  for (const k of Object.keys(options)) {
    if (k !== 'accessBoundary' && k !== 'userProject') {
      return `Invalid value for "options": unknown field "${k.slice(0, 64)}".`;
    }
  }
  const ab = options.accessBoundary;
  if (!isObject(ab) || !Array.isArray(ab.accessBoundaryRules)) {
    return 'Invalid value for "options.accessBoundary": accessBoundaryRules is required.';
  }
  for (const k of Object.keys(ab)) {
    if (k !== 'accessBoundaryRules') {
      return `Invalid value for "options.accessBoundary": unknown field "${k.slice(0, 64)}".`;
    }
  }
  const rules = ab.accessBoundaryRules as unknown[];
  if (rules.length === 0) {
    return 'The Credential Access Boundary must contain at least one access boundary rule.';
  }
  if (rules.length > MAX_ACCESS_BOUNDARY_RULES) {
    return `The Credential Access Boundary contains more than ${MAX_ACCESS_BOUNDARY_RULES} access boundary rules.`;
  }
  for (const [i, rule] of rules.entries()) {
    const problem = ruleProblem(rule);
    if (problem !== undefined) return `accessBoundaryRules[${i}]: ${problem}`;
  }
  return {accessBoundary: {accessBoundaryRules: rules}};
}

function ruleProblem(rule: unknown): string | undefined {
  if (!isObject(rule)) return 'must be an object.';
  for (const k of Object.keys(rule)) {
    if (
      k !== 'availableResource' &&
      k !== 'availablePermissions' &&
      k !== 'availabilityCondition'
    ) {
      return `unknown field "${k.slice(0, 64)}".`;
    }
  }
  const resource = rule.availableResource;
  if (
    typeof resource !== 'string' ||
    resource.length > 1024 ||
    !FULL_RESOURCE_NAME.test(resource)
  ) {
    return 'availableResource must be the full resource name of a Cloud Storage bucket, e.g. //storage.googleapis.com/projects/_/buckets/example-bucket.';
  }
  const permissions = rule.availablePermissions;
  if (!Array.isArray(permissions) || permissions.length === 0) {
    return 'availablePermissions must list at least one permission.';
  }
  for (const p of permissions) {
    if (typeof p !== 'string' || !IN_ROLE.test(p)) {
      return 'availablePermissions only supports IAM roles in the form inRole:roles/<role>.';
    }
  }
  const condition = rule.availabilityCondition;
  if (condition !== undefined) {
    if (!isObject(condition)) return 'availabilityCondition must be an object.';
    for (const k of Object.keys(condition)) {
      if (k !== 'expression' && k !== 'title' && k !== 'description') {
        return `availabilityCondition: unknown field "${k.slice(0, 64)}".`;
      }
    }
    const expression = condition.expression;
    if (typeof expression !== 'string' || expression.trim() === '') {
      return 'availabilityCondition.expression is required.';
    }
    if (expression.length > MAX_CEL_EXPRESSION_CHARS) {
      return `availabilityCondition.expression must be at most ${MAX_CEL_EXPRESSION_CHARS} characters.`;
    }
    const problem = celProblem(expression);
    if (problem !== undefined) {
      return `availabilityCondition.expression is not a valid CEL expression: it ${problem}.`;
    }
    for (const k of ['title', 'description'] as const) {
      if (condition[k] !== undefined && typeof condition[k] !== 'string') {
        return `availabilityCondition.${k} must be a string.`;
      }
    }
  }
  return undefined;
}

function invalidRequest(description: string): Reply {
  return oauthError(400, 'invalid_request', description);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
