/**
 * `tvm token`: prints an access token for a profile, as `gcloud auth
 * print-access-token` does for a Google user, from the cache while it is fresh (see
 * cache.ts), so a script can call it on every line. With `--id-token --audience URL`
 * it prints an ID token for that audience instead (as `gcloud auth
 * print-identity-token --audiences`), cached apart from the access tokens.
 */

import {parseArgs} from 'node:util';
import {getToken, type CachedToken} from './cache.ts';
import {CliError} from './errors.ts';
import {EXIT_OK, println, readAtMost, type CliIo, type Command} from './io.ts';
import {cacheDir, loadConfig, selectProfile, type Profile} from './profiles.ts';
import {requestToken, type TokenRequest} from './vend.ts';

/** The options every token-using command takes. */
export const REQUEST_OPTIONS = {
  profile: {type: 'string'},
  config: {type: 'string'},
  audience: {type: 'string'},
  scope: {type: 'string', multiple: true},
  lifetime: {type: 'string'},
  subject: {type: 'string'},
  'access-boundary': {type: 'string'},
} as const;

export const REQUEST_ARGS =
  '[--profile NAME] [--audience SA] [--scope S]... [--lifetime SECONDS] [--subject USER] [--access-boundary FILE] [--config FILE]';

/** The largest access boundary file read (tvm refuses more than 8 KiB anyway). */
const MAX_BOUNDARY_FILE_BYTES = 8 * 1024;

/** `tvm token`'s own: an ID token instead, and the account named apart from its audience. */
const ID_TOKEN_OPTIONS = {
  'id-token': {type: 'boolean'},
  'service-account': {type: 'string'},
  'include-email': {type: 'boolean'},
} as const;

export const token: Command = {
  name: 'token',
  args: `${REQUEST_ARGS} [--id-token --audience URL [--service-account SA] [--include-email]] [--format text|json]`,
  summary:
    'print an access token (or an ID token) for a profile (cached; refreshed when under 5 minutes remain)',
  run: runToken,
};

async function runToken(args: string[], io: CliIo): Promise<number> {
  const {values} = parseArgs({
    args,
    options: {
      ...REQUEST_OPTIONS,
      ...ID_TOKEN_OPTIONS,
      format: {type: 'string', default: 'text'},
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.format !== 'text' && values.format !== 'json') {
    throw new CliError('ERR_USAGE', '--format must be text or json');
  }
  const now = io.now ?? Date.now;
  const t = await tokenFor(values, io);
  if (values.format === 'json' && values['id-token']) {
    println(
      io.stdout,
      JSON.stringify({
        id_token: t.accessToken,
        expires_in: Math.max(0, Math.floor((t.expiresAt - now()) / 1000)),
        expiry: new Date(t.expiresAt).toISOString(),
        audience: values.audience,
      }),
    );
  } else if (values.format === 'json') {
    println(
      io.stdout,
      JSON.stringify({
        access_token: t.accessToken,
        token_type: t.tokenType,
        expires_in: Math.max(0, Math.floor((t.expiresAt - now()) / 1000)),
        expiry: new Date(t.expiresAt).toISOString(),
        ...(t.scope !== undefined ? {scope: t.scope} : {}),
      }),
    );
  } else {
    println(io.stdout, t.accessToken);
  }
  return EXIT_OK;
}

export interface RequestValues {
  profile?: string;
  config?: string;
  audience?: string;
  scope?: string[];
  lifetime?: string;
  /** Domain-wide delegation: the user the token acts for. */
  subject?: string;
  /** A file holding a Credential Access Boundary as JSON (`-`: standard input). */
  'access-boundary'?: string;
  /** `tvm token` only: `--audience` is then the ID token's audience. */
  'id-token'?: boolean;
  'service-account'?: string;
  'include-email'?: boolean;
}

/** The environment, with --config applied as TVM_CONFIG. */
export function envOf(
  io: CliIo,
  values: {config?: string},
): Readonly<Record<string, string | undefined>> {
  const env = io.env ?? process.env;
  return values.config === undefined
    ? env
    : {...env, TVM_CONFIG: values.config};
}

/** The profile and request the options name. */
export async function resolveRequest(
  values: RequestValues,
  io: CliIo,
): Promise<{profile: Profile; request: TokenRequest}> {
  const env = envOf(io, values);
  const config = await loadConfig(env);
  const profile = selectProfile(config, values.profile, env);
  if (values['id-token']) {
    if (
      values.subject !== undefined ||
      values['access-boundary'] !== undefined
    ) {
      throw new CliError(
        'ERR_USAGE',
        '--subject and --access-boundary apply to access tokens, not to --id-token',
      );
    }
    return {profile, request: idTokenRequest(values, profile, config.path)};
  }
  if (values['include-email']) {
    throw new CliError('ERR_USAGE', '--include-email goes with --id-token');
  }
  if (
    values['service-account'] !== undefined &&
    values.audience !== undefined
  ) {
    throw new CliError(
      'ERR_USAGE',
      'name the service account once: --audience SA or --service-account SA',
    );
  }
  const audience =
    values['service-account'] ?? values.audience ?? profile.audience;
  if (audience === undefined) {
    throw new CliError(
      'ERR_USAGE',
      `no service account: pass --audience, or set audience in profile ${profile.name} (${config.path})`,
    );
  }
  const scopes = values.scope
    ? values.scope.flatMap(s => s.split(/\s+/)).filter(Boolean)
    : profile.scopes;
  let lifetime = profile.lifetime;
  if (values.lifetime !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(values.lifetime)) {
      throw new CliError(
        'ERR_USAGE',
        '--lifetime is a whole number of seconds, e.g. 900',
      );
    }
    lifetime = Number(values.lifetime);
  }
  const subject = values.subject?.trim();
  if (subject !== undefined && !/^[^@\s]+@[^@\s]+$/.test(subject)) {
    throw new CliError(
      'ERR_USAGE',
      '--subject is the email of the user the token acts for, e.g. alice@corp.example',
    );
  }
  const accessBoundary =
    values['access-boundary'] === undefined
      ? undefined
      : await readBoundary(values['access-boundary']);
  return {
    profile,
    request: {
      audience,
      scopes,
      lifetime,
      ...(subject !== undefined ? {subject} : {}),
      ...(accessBoundary !== undefined ? {accessBoundary} : {}),
    },
  };
}

/**
 * The Credential Access Boundary in `file` (`-`: standard input), as one line of JSON:
 * read up to the limit, parsed here so a typo is said before tvm is asked.
 */
async function readBoundary(file: string): Promise<string> {
  let text: string;
  try {
    text =
      file === '-'
        ? await readStdin(MAX_BOUNDARY_FILE_BYTES + 1)
        : (await readAtMost(file, MAX_BOUNDARY_FILE_BYTES + 1)).toString(
            'utf8',
          );
  } catch (e) {
    throw new CliError(
      'ERR_USAGE',
      `cannot read --access-boundary ${file}: ${(e as {code?: string}).code ?? String(e)}`,
    );
  }
  if (Buffer.byteLength(text) > MAX_BOUNDARY_FILE_BYTES) {
    throw new CliError(
      'ERR_USAGE',
      `--access-boundary ${file} is larger than ${MAX_BOUNDARY_FILE_BYTES} bytes`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(
      'ERR_USAGE',
      `--access-boundary ${file} is not JSON: write it as Google's {"accessBoundary": {"accessBoundaryRules": [...]}}`,
    );
  }
  return JSON.stringify(parsed);
}

async function readStdin(limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * An ID token request: `--audience` is the token's audience, the account is
 * `--service-account` or the profile's default; scopes and lifetime do not apply.
 */
function idTokenRequest(
  values: RequestValues,
  profile: Profile,
  configPath: string,
): TokenRequest {
  if (values.audience === undefined) {
    throw new CliError(
      'ERR_USAGE',
      '--id-token needs --audience URL: the audience of the ID token (e.g. the Cloud Run service URL)',
    );
  }
  if (values.scope !== undefined || values.lifetime !== undefined) {
    throw new CliError(
      'ERR_USAGE',
      '--scope and --lifetime do not apply to ID tokens (they live an hour)',
    );
  }
  const account = values['service-account'] ?? profile.audience;
  if (account === undefined) {
    throw new CliError(
      'ERR_USAGE',
      `no service account: pass --service-account, or set audience in profile ${profile.name} (${configPath})`,
    );
  }
  return {
    audience: account,
    scopes: [],
    idToken: {
      audience: values.audience,
      includeEmail: values['include-email'] === true,
    },
  };
}

/** A token for the options: cached, or fetched from tvm. */
export async function tokenFor(
  values: RequestValues,
  io: CliIo,
): Promise<CachedToken> {
  const {profile, request} = await resolveRequest(values, io);
  const env = envOf(io, values);
  const now = io.now ?? Date.now;
  return getToken(profile, request, {
    dir: cacheDir(env),
    now,
    fetchToken: () => requestToken(profile, request, env, now),
  });
}
