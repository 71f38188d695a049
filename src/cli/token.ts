/**
 * `tvm token`: prints an access token for a profile, as `gcloud auth
 * print-access-token` does for a Google user, from the cache while it is fresh (see
 * cache.ts), so a script can call it on every line.
 */

import {parseArgs} from 'node:util';
import {getToken, type CachedToken} from './cache.ts';
import {CliError} from './errors.ts';
import {EXIT_OK, println, type CliIo, type Command} from './io.ts';
import {cacheDir, loadConfig, selectProfile, type Profile} from './profiles.ts';
import {requestToken, type TokenRequest} from './vend.ts';

/** The options every token-using command takes. */
export const REQUEST_OPTIONS = {
  profile: {type: 'string'},
  config: {type: 'string'},
  audience: {type: 'string'},
  scope: {type: 'string', multiple: true},
  lifetime: {type: 'string'},
} as const;

export const REQUEST_ARGS =
  '[--profile NAME] [--audience SA] [--scope S]... [--lifetime SECONDS] [--config FILE]';

export const token: Command = {
  name: 'token',
  args: `${REQUEST_ARGS} [--format text|json]`,
  summary:
    'print an access token for a profile (cached; refreshed when under 5 minutes remain)',
  run: runToken,
};

async function runToken(args: string[], io: CliIo): Promise<number> {
  const {values} = parseArgs({
    args,
    options: {...REQUEST_OPTIONS, format: {type: 'string', default: 'text'}},
    strict: true,
    allowPositionals: false,
  });
  if (values.format !== 'text' && values.format !== 'json') {
    throw new CliError('ERR_USAGE', '--format must be text or json');
  }
  const now = io.now ?? Date.now;
  const t = await tokenFor(values, io);
  if (values.format === 'json') {
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
  const audience = values.audience ?? profile.audience;
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
  return {profile, request: {audience, scopes, lifetime}};
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
