/**
 * `tvm profile add|list|show`: the profiles of the configuration file (profiles.ts).
 * Nothing here prints a secret: a profile names its key file or variable, and `show`
 * reports only whether the secret is there and guarded.
 */

import {resolve} from 'node:path';
import {parseArgs} from 'node:util';
import {CliError, suggestion} from './errors.ts';
import {EXIT_OK, println, type CliIo, type Command} from './io.ts';
import {
  PROFILE_NAME,
  compileProfile,
  describeCredential,
  loadConfig,
  readSecretFile,
  saveConfig,
  type Profile,
  type RawProfile,
} from './profiles.ts';
import {envOf} from './token.ts';

const SOURCES =
  '(--api-key-file FILE | --api-key-env VAR | --oidc-token-file FILE | --oidc-token-url URL | --oidc-token-command CMD | --private-key-file FILE [--key-id KID])';

export const profileAdd: Command = {
  name: 'profile add',
  args: `NAME --url URL [--issuer URL] [--client-id ID] ${SOURCES} [--oidc-token-type jwt|id_token] [--audience SA] [--scope S]... [--lifetime SECONDS] [--default] [--replace] [--config FILE]`,
  summary: 'add a profile: where tvm is, who you are, what you usually ask for',
  run: runAdd,
};

export const profileList: Command = {
  name: 'profile list',
  args: '[--names] [--config FILE]',
  summary: 'list the profiles (* marks the default)',
  run: runList,
};

export const profileShow: Command = {
  name: 'profile show',
  args: '[NAME] [--config FILE]',
  summary: 'show a profile and check its secret is in place (never prints it)',
  run: runShow,
};

async function runAdd(args: string[], io: CliIo): Promise<number> {
  const {values, positionals} = parseArgs({
    args,
    options: {
      url: {type: 'string'},
      issuer: {type: 'string'},
      'client-id': {type: 'string'},
      'api-key-file': {type: 'string'},
      'api-key-env': {type: 'string'},
      'oidc-token-file': {type: 'string'},
      'oidc-token-url': {type: 'string'},
      'oidc-token-command': {type: 'string'},
      'oidc-token-type': {type: 'string'},
      'private-key-file': {type: 'string'},
      'key-id': {type: 'string'},
      audience: {type: 'string'},
      scope: {type: 'string', multiple: true},
      lifetime: {type: 'string'},
      default: {type: 'boolean'},
      replace: {type: 'boolean'},
      config: {type: 'string'},
    },
    strict: true,
    allowPositionals: true,
  });
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) {
    throw new CliError(
      'ERR_USAGE',
      'name exactly one profile: tvm profile add NAME ...',
    );
  }
  if (!PROFILE_NAME.test(name)) {
    throw new CliError(
      'ERR_USAGE',
      'a profile name is letters, digits, ".", "_" and "-" (at most 64)',
    );
  }
  if (values.url === undefined) {
    throw new CliError('ERR_USAGE', "--url is required: tvm's base URL");
  }
  const tokenType = values['oidc-token-type'];
  if (
    tokenType !== undefined &&
    tokenType !== 'jwt' &&
    tokenType !== 'id_token'
  ) {
    throw new CliError(
      'ERR_USAGE',
      '--oidc-token-type must be jwt or id_token',
    );
  }
  let lifetime: number | undefined;
  if (values.lifetime !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(values.lifetime)) {
      throw new CliError(
        'ERR_USAGE',
        '--lifetime is a whole number of seconds',
      );
    }
    lifetime = Number(values.lifetime);
  }
  const file = (p: string | undefined) =>
    p === undefined ? undefined : resolve(p);
  const raw: RawProfile = dropUndefined({
    url: values.url,
    issuer: values.issuer,
    client_id: values['client-id'],
    api_key_file: file(values['api-key-file']),
    api_key_env: values['api-key-env'],
    oidc_token_file: file(values['oidc-token-file']),
    oidc_token_url: values['oidc-token-url'],
    oidc_token_command: values['oidc-token-command'],
    oidc_token_type: tokenType as 'jwt' | 'id_token' | undefined,
    private_key_file: file(values['private-key-file']),
    key_id: values['key-id'],
    audience: values.audience,
    scopes: values.scope?.flatMap(s => s.split(/\s+/)).filter(Boolean),
    lifetime,
  });
  const env = envOf(io, values);
  const config = await loadConfig(env);
  let profile: Profile;
  try {
    profile = compileProfile(name, raw, config.path);
  } catch (e) {
    // The same checks as the file's, phrased for the command line.
    if (e instanceof CliError) {
      throw new CliError(
        'ERR_USAGE',
        e.message
          .replace(`${config.path}: profiles.${name}`, `profile ${name}`)
          .replace(
            /\b(api_key_file|api_key_env|oidc_token_\w+|private_key_file|client_id|key_id)\b/g,
            m => `--${m.replace(/_/g, '-')}`,
          ),
      );
    }
    throw e;
  }
  if (config.raw.profiles[name] && !values.replace) {
    throw new CliError(
      'ERR_USAGE',
      `profile ${name} already exists in ${config.path}: pass --replace to overwrite it`,
    );
  }
  await checkSecret(profile, env);
  const profiles = {...config.raw.profiles, [name]: raw};
  const defaultProfile =
    values.default || Object.keys(profiles).length === 1
      ? name
      : config.raw.default_profile;
  await saveConfig(config, {
    ...(defaultProfile ? {default_profile: defaultProfile} : {}),
    profiles,
  });
  println(
    io.stderr,
    `added profile ${name} to ${config.path}${defaultProfile === name ? ' (the default)' : ''}: ${describeCredential(profile.credential)}`,
  );
  return EXIT_OK;
}

/** Fails when the profile's secret file is missing, empty or open to others. */
async function checkSecret(
  profile: Profile,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const c = profile.credential;
  if (c.kind === 'api_key_file') {
    await readSecretFile(c.path, 'API key');
    return 'present, mode 0600';
  }
  if (c.kind === 'private_key_file') {
    await readSecretFile(c.path, 'private key');
    return 'present, mode 0600';
  }
  if (c.kind === 'api_key_env') {
    return env[c.variable] ? 'set' : 'not set in this environment';
  }
  return 'read when a token is needed';
}

async function runList(args: string[], io: CliIo): Promise<number> {
  const {values} = parseArgs({
    args,
    options: {names: {type: 'boolean'}, config: {type: 'string'}},
    strict: true,
    allowPositionals: false,
  });
  const env = envOf(io, values);
  const config = await loadConfig(env);
  const names = Object.keys(config.raw.profiles);
  if (values.names) {
    for (const n of names) println(io.stdout, n);
    return EXIT_OK;
  }
  if (names.length === 0) {
    println(
      io.stderr,
      `no profiles in ${config.path}: add one with "tvm profile add NAME --url URL ..."`,
    );
    return EXIT_OK;
  }
  for (const n of names) {
    const p = compileProfile(n, config.raw.profiles[n]!, config.path);
    const mark = n === config.defaultProfile ? '*' : ' ';
    println(
      io.stdout,
      `${mark} ${n}  ${p.url}  ${p.clientId ? `client ${p.clientId}, ` : ''}${describeCredential(p.credential)}`,
    );
  }
  return EXIT_OK;
}

async function runShow(args: string[], io: CliIo): Promise<number> {
  const {values, positionals} = parseArgs({
    args,
    options: {config: {type: 'string'}},
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 1) {
    throw new CliError('ERR_USAGE', 'name at most one profile');
  }
  const env = envOf(io, values);
  const config = await loadConfig(env);
  const names = Object.keys(config.raw.profiles);
  const name =
    positionals[0] ??
    env.TVM_PROFILE ??
    config.defaultProfile ??
    (names.length === 1 ? names[0] : undefined);
  if (name === undefined) {
    throw new CliError(
      'ERR_PROFILE',
      `name a profile: one of ${names.join(', ') || '(none yet)'}`,
    );
  }
  const raw = config.raw.profiles[name];
  if (!raw) {
    throw new CliError(
      'ERR_PROFILE',
      `no profile "${name}" in ${config.path}${suggestion(name, names)}; "tvm profile list" shows them`,
    );
  }
  const p = compileProfile(name, raw, config.path);
  let secret: string;
  try {
    secret = await checkSecret(p, env);
  } catch (e) {
    secret = e instanceof CliError ? `PROBLEM: ${e.message}` : String(e);
  }
  const rows: Array<[string, string | undefined]> = [
    [
      'profile',
      `${p.name}${p.name === config.defaultProfile ? ' (default)' : ''}`,
    ],
    ['config', config.path],
    ['url', p.url],
    ['token endpoint', `${p.url}/token`],
    ['issuer', p.issuer === p.url ? undefined : p.issuer],
    ['client id', p.clientId],
    ['credential', describeCredential(p.credential)],
    ['secret', secret],
    [
      'oidc token type',
      p.credential.kind.startsWith('oidc_') ? p.oidcTokenType : undefined,
    ],
    ['audience', p.audience],
    ['scopes', p.scopes.length > 0 ? p.scopes.join(' ') : undefined],
    ['lifetime', p.lifetime === undefined ? undefined : `${p.lifetime}s`],
  ];
  for (const [k, v] of rows) {
    if (v !== undefined) println(io.stdout, `${`${k}:`.padEnd(17)}${v}`);
  }
  return EXIT_OK;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as T;
}
