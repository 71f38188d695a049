/**
 * The `authorized_user` credential: a user's consent to an OAuth client, as
 * `gcloud auth application-default login` writes it (`type`, `client_id`,
 * `client_secret`, `refresh_token`, optional `quota_project_id`; gcloud also writes
 * `account` and `universe_domain`). One strict parser, used by `tvm import-user` before
 * anything is stored and by tvm when it reads the credential back from Secret Manager,
 * so the two cannot disagree. Problems name the field, never its value: two of the
 * fields are secrets.
 */

/** A parsed authorized_user credential. `clientSecret` and `refreshToken` are secrets. */
export interface AuthorizedUser {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  readonly quotaProjectId: string | undefined;
}

/** Such files are a few hundred bytes; anything bigger is refused unparsed. */
export const MAX_AUTHORIZED_USER_BYTES = 16 * 1024;

/** An OAuth client id: `<project number>-<id>.apps.googleusercontent.com`. */
export const OAUTH_CLIENT_ID_PATTERN =
  /^[0-9]{1,20}-[a-z0-9]{1,64}\.apps\.googleusercontent\.com$/;
/** Printable ASCII without spaces: what client secrets and refresh tokens are made of. */
const SECRET_TEXT = /^[\x21-\x7e]+$/;
/** A project id (optionally domain-scoped, `example.com:my-project`). */
const PROJECT_ID = /^(?:[a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'type',
  'client_id',
  'client_secret',
  'refresh_token',
  'quota_project_id',
  'account',
  'universe_domain',
]);

export type AuthorizedUserResult =
  | {readonly ok: true; readonly value: AuthorizedUser}
  | {readonly ok: false; readonly problems: readonly string[]};

/**
 * Parses `text` (the file's content) strictly: every problem found, each naming its
 * field. Unknown keys are problems too: a file of another kind is never half-read.
 */
export function parseAuthorizedUser(text: string): AuthorizedUserResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_AUTHORIZED_USER_BYTES) {
    return fail([`larger than ${MAX_AUTHORIZED_USER_BYTES} bytes`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail(['not JSON']);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(['not a JSON object']);
  }
  const o = json as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(o)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`${keyName(key)}: unknown key`);
  }
  if (o.type !== 'authorized_user') {
    problems.push(
      typeof o.type === 'string' && /^[a-z_]{1,40}$/.test(o.type)
        ? `type: must be "authorized_user", not "${o.type}"`
        : 'type: must be "authorized_user"',
    );
  }
  const clientId = o.client_id;
  if (typeof clientId !== 'string' || !OAUTH_CLIENT_ID_PATTERN.test(clientId)) {
    problems.push(
      'client_id: must be an OAuth client id, <number>-<id>.apps.googleusercontent.com',
    );
  }
  const clientSecret = o.client_secret;
  if (!secretText(clientSecret, 256)) {
    problems.push(
      'client_secret: must be 1 to 256 printable characters without spaces',
    );
  }
  const refreshToken = o.refresh_token;
  if (!secretText(refreshToken, 2048)) {
    problems.push(
      'refresh_token: must be 1 to 2048 printable characters without spaces',
    );
  }
  const quota = o.quota_project_id;
  if (
    quota !== undefined &&
    (typeof quota !== 'string' || !PROJECT_ID.test(quota))
  ) {
    problems.push('quota_project_id: must be a project id');
  }
  if (
    o.universe_domain !== undefined &&
    o.universe_domain !== 'googleapis.com'
  ) {
    problems.push(
      "universe_domain: must be googleapis.com (tvm talks to Google Cloud's default universe)",
    );
  }
  if (
    o.account !== undefined &&
    (typeof o.account !== 'string' || o.account.length > 320)
  ) {
    problems.push(
      'account: must be a string (gcloud writes the account or "")',
    );
  }
  if (problems.length > 0) return fail(problems);
  return {
    ok: true,
    value: Object.freeze({
      clientId: clientId as string,
      clientSecret: clientSecret as string,
      refreshToken: refreshToken as string,
      quotaProjectId: quota as string | undefined,
    }),
  };
}

/**
 * The credential as tvm stores it in Secret Manager: the fields Google's libraries
 * read, nothing else (gcloud's `account` and `universe_domain` are dropped).
 */
export function authorizedUserJson(u: AuthorizedUser): string {
  return `${JSON.stringify(
    {
      type: 'authorized_user',
      client_id: u.clientId,
      client_secret: u.clientSecret,
      refresh_token: u.refreshToken,
      ...(u.quotaProjectId === undefined
        ? {}
        : {quota_project_id: u.quotaProjectId}),
    },
    null,
    2,
  )}\n`;
}

function secretText(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && SECRET_TEXT.test(v);
}

/**
 * A key as the problem names it: a plain name as it is; anything else (which could be
 * a pasted secret) not at all.
 */
function keyName(key: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(key)
    ? key
    : '(a key that is not a plain name)';
}

function fail(problems: string[]): AuthorizedUserResult {
  return {ok: false, problems: Object.freeze(problems)};
}
