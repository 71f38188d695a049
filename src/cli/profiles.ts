/**
 * Profiles: `~/.config/tvm/config.yaml` (XDG_CONFIG_HOME; TVM_CONFIG names another
 * file) holds named profiles, each a tvm URL, a client id, how the caller proves itself
 * and request defaults. The file holds no secret: secrets stay in files of mode 0600 or
 * in environment variables, which the profile names. A key file that group or others
 * can read is refused, as ssh refuses such a private key.
 *
 * Parsed strictly (unknown keys are errors, each naming its path), then compiled into a
 * frozen Profile with exactly one credential source.
 */

import {homedir} from 'node:os';
import {randomBytes} from 'node:crypto';
import {mkdir, open, readFile, rename, rm} from 'node:fs/promises';
import {dirname, isAbsolute, join, resolve} from 'node:path';
import {parseDocument, stringify} from 'yaml';
import * as z from '../zod.ts';
import {CliError, fsReason, suggestion} from './errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the configuration file is: TVM_CONFIG, else XDG_CONFIG_HOME/tvm/config.yaml. */
export function configPath(env: Env): string {
  if (env.TVM_CONFIG) return resolve(env.TVM_CONFIG);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'tvm', 'config.yaml');
}

/** Where tokens are cached: XDG_CACHE_HOME/tvm, else ~/.cache/tvm. */
export function cacheDir(env: Env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'tvm');
}

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const nonEmpty = z.string().check(z.minLength(1));

const RawProfile = z.strictObject({
  url: nonEmpty,
  issuer: z.optional(nonEmpty),
  client_id: z.optional(nonEmpty),
  api_key_file: z.optional(nonEmpty),
  api_key_env: z.optional(nonEmpty),
  oidc_token_file: z.optional(nonEmpty),
  oidc_token_url: z.optional(nonEmpty),
  oidc_token_command: z.optional(nonEmpty),
  oidc_token_type: z.optional(z.enum(['jwt', 'id_token'])),
  private_key_file: z.optional(nonEmpty),
  key_id: z.optional(nonEmpty),
  audience: z.optional(nonEmpty),
  scopes: z.optional(z.array(nonEmpty)),
  lifetime: z.optional(z.number().check(z.int(), z.positive())),
});
type RawProfile = z.infer<typeof RawProfile>;

const RawConfig = z.strictObject({
  default_profile: z.optional(nonEmpty),
  profiles: z._default(z.record(z.string(), RawProfile), {}),
});
type RawConfig = z.infer<typeof RawConfig>;

/** How a profile's caller proves itself; names where the secret is, never the secret. */
export type Credential =
  | {readonly kind: 'api_key_file'; readonly path: string}
  | {readonly kind: 'api_key_env'; readonly variable: string}
  | {readonly kind: 'oidc_token_file'; readonly path: string}
  | {readonly kind: 'oidc_token_url'; readonly url: string}
  | {readonly kind: 'oidc_token_command'; readonly command: string}
  | {
      readonly kind: 'private_key_file';
      readonly path: string;
      readonly keyId?: string;
    };

export const CREDENTIAL_KINDS = [
  'api_key_file',
  'api_key_env',
  'oidc_token_file',
  'oidc_token_url',
  'oidc_token_command',
  'private_key_file',
] as const;

/** A compiled profile. */
export interface Profile {
  readonly name: string;
  /** tvm's base URL (its issuer); the token endpoint is `${url}/token`. */
  readonly url: string;
  /** tvm's TVM_ISSUER, the aud of a client assertion: the url unless it differs. */
  readonly issuer: string;
  readonly clientId?: string;
  readonly credential: Credential;
  /** RFC 8693 subject token type of an OIDC source. */
  readonly oidcTokenType: 'jwt' | 'id_token';
  readonly audience?: string;
  readonly scopes: readonly string[];
  readonly lifetime?: number;
}

/** The configuration file, parsed; `raw` is kept to write it back. */
export interface Config {
  readonly path: string;
  readonly exists: boolean;
  readonly defaultProfile?: string;
  readonly raw: RawConfig;
}

/** Reads and validates the configuration file; a missing file is an empty one. */
export async function loadConfig(env: Env): Promise<Config> {
  const path = configPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as {code?: unknown}).code === 'ENOENT') {
      return {path, exists: false, raw: {profiles: {}}};
    }
    throw new CliError(
      'ERR_CONFIG',
      `cannot read ${path}: ${fsReason(e)} (TVM_CONFIG names another file)`,
    );
  }
  const doc = parseDocument(text, {uniqueKeys: true});
  if (doc.errors.length > 0) {
    throw new CliError(
      'ERR_CONFIG',
      `${path}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
    );
  }
  const parsed = RawConfig.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliError(
      'ERR_CONFIG',
      `${path}: ${issue.path.join('.') || '(top)'}: ${issue.message}`,
    );
  }
  for (const [name, raw] of Object.entries(parsed.data.profiles)) {
    compileProfile(name, raw, path); // every profile is checked, not only the one used
  }
  return {
    path,
    exists: true,
    defaultProfile: parsed.data.default_profile,
    raw: parsed.data,
  };
}

/** The profile to use: --profile, else TVM_PROFILE, else the default, else the only one. */
export function selectProfile(
  config: Config,
  requested: string | undefined,
  env: Env,
): Profile {
  const names = Object.keys(config.raw.profiles);
  const name =
    requested ??
    (env.TVM_PROFILE || undefined) ??
    config.defaultProfile ??
    (names.length === 1 ? names[0] : undefined);
  if (name === undefined) {
    throw new CliError(
      'ERR_PROFILE',
      names.length === 0
        ? `no profiles in ${config.path}: add one with "tvm profile add NAME --url URL ..."`
        : `several profiles in ${config.path} and no default: pass --profile (one of ${names.join(', ')}) or set default_profile`,
    );
  }
  const raw = config.raw.profiles[name];
  if (!raw) {
    throw new CliError(
      'ERR_PROFILE',
      `no profile "${name}" in ${config.path}${suggestion(name, names)}; "tvm profile list" shows them`,
    );
  }
  return compileProfile(name, raw, config.path);
}

/** Checks one raw profile and freezes it. */
export function compileProfile(
  name: string,
  raw: RawProfile,
  path: string,
): Profile {
  const where = `${path}: profiles.${name}`;
  if (!PROFILE_NAME.test(name)) {
    throw new CliError(
      'ERR_CONFIG',
      `${where}: a profile name is letters, digits, ".", "_" and "-"`,
    );
  }
  if (!urlOk(raw.url)) {
    throw new CliError(
      'ERR_CONFIG',
      `${where}.url: tvm's base URL, https (http only for loopback), without path query or credentials, e.g. https://tvm.example.com`,
    );
  }
  const set = CREDENTIAL_KINDS.filter(k => raw[k] !== undefined);
  if (set.length !== 1) {
    throw new CliError(
      'ERR_CONFIG',
      `${where}: exactly one of ${CREDENTIAL_KINDS.join(', ')} (found ${set.length === 0 ? 'none' : set.join(', ')})`,
    );
  }
  const kind = set[0]!;
  const credential = toCredential(kind, raw, path);
  if (
    (kind === 'api_key_file' ||
      kind === 'api_key_env' ||
      kind === 'private_key_file') &&
    raw.client_id === undefined
  ) {
    throw new CliError(
      'ERR_CONFIG',
      `${where}: ${kind} needs client_id (the client's id in tvm's policy)`,
    );
  }
  if (raw.issuer !== undefined && !urlOk(raw.issuer)) {
    throw new CliError(
      'ERR_CONFIG',
      `${where}.issuer: tvm's TVM_ISSUER, an https URL (http only for loopback)`,
    );
  }
  if (raw.key_id !== undefined && kind !== 'private_key_file') {
    throw new CliError(
      'ERR_CONFIG',
      `${where}.key_id: only with private_key_file`,
    );
  }
  return Object.freeze({
    name,
    url: raw.url.replace(/\/+$/, ''),
    issuer: raw.issuer ?? raw.url.replace(/\/+$/, ''),
    clientId: raw.client_id,
    credential: Object.freeze(credential),
    oidcTokenType: raw.oidc_token_type ?? 'jwt',
    audience: raw.audience,
    scopes: Object.freeze([...(raw.scopes ?? [])]),
    lifetime: raw.lifetime,
  });
}

function toCredential(
  kind: (typeof CREDENTIAL_KINDS)[number],
  raw: RawProfile,
  configFile: string,
): Credential {
  // Relative file names are relative to the configuration file, as ssh_config's are
  // to the home directory: the meaning must not depend on the working directory.
  const file = (p: string) =>
    isAbsolute(p) ? p : resolve(dirname(configFile), expandHome(p));
  switch (kind) {
    case 'api_key_file':
      return {kind, path: file(raw.api_key_file!)};
    case 'api_key_env':
      return {kind, variable: raw.api_key_env!};
    case 'oidc_token_file':
      return {kind, path: file(raw.oidc_token_file!)};
    case 'oidc_token_url':
      return {kind, url: raw.oidc_token_url!};
    case 'oidc_token_command':
      return {kind, command: raw.oidc_token_command!};
    case 'private_key_file':
      return raw.key_id === undefined
        ? {kind, path: file(raw.private_key_file!)}
        : {kind, path: file(raw.private_key_file!), keyId: raw.key_id};
  }
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/** https, or http on loopback; no credentials, query or fragment. */
export function urlOk(s: string): boolean {
  try {
    const u = new URL(s);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    return (
      (u.protocol === 'https:' || (u.protocol === 'http:' && loopback)) &&
      !u.username &&
      !u.password &&
      !u.search &&
      !u.hash
    );
  } catch {
    return false;
  }
}

/** Where a profile's credential comes from, for `profile list|show`: never a secret. */
export function describeCredential(c: Credential): string {
  switch (c.kind) {
    case 'api_key_file':
      return `API key in file ${c.path}`;
    case 'api_key_env':
      return `API key in environment variable ${c.variable}`;
    case 'oidc_token_file':
      return `OIDC token from file ${c.path}`;
    case 'oidc_token_url':
      return `OIDC token from URL ${c.url}`;
    case 'oidc_token_command':
      return `OIDC token from command ${c.command}`;
    case 'private_key_file':
      return `private_key_jwt, key in file ${c.path}${c.keyId ? ` (kid ${c.keyId})` : ''}`;
  }
}

/**
 * Reads a secret file: it must be a regular file that only its owner can read or
 * write (mode 0600 or stricter), as ssh requires of a private key.
 */
export async function readSecretFile(
  path: string,
  what: string,
): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new CliError(
      'ERR_SECRET',
      `cannot read the ${what} file ${path}: ${fsReason(e)}`,
    );
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new CliError(
        'ERR_SECRET',
        `the ${what} file ${path} is not a regular file`,
      );
    }
    if ((st.mode & 0o077) !== 0) {
      throw new CliError(
        'ERR_SECRET',
        `the ${what} file ${path} is readable or writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run "chmod 600 ${path}"`,
      );
    }
    const text = (await handle.readFile('utf8')).trim();
    if (!text) {
      throw new CliError('ERR_SECRET', `the ${what} file ${path} is empty`);
    }
    return text;
  } finally {
    await handle.close();
  }
}

/** Writes the configuration back (0600, atomically), with `profiles` as given. */
export async function saveConfig(
  config: Config,
  raw: RawConfig,
): Promise<void> {
  await mkdir(dirname(config.path), {recursive: true, mode: 0o700});
  const text =
    '# tvm profiles: "tvm profile add|list|show". No secrets here: key files (mode 0600)\n' +
    '# and environment variables are named, never copied.\n' +
    stringify(raw);
  await writeAtomic(config.path, text);
}

/**
 * Writes `text` to `path` with mode 0600: a fresh file made exclusively, then renamed
 * over `path`, so a reader sees the old content or the new, never half of it.
 */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const h = await open(temp, 'wx', 0o600);
    try {
      await h.writeFile(text, 'utf8');
      await h.chmod(0o600); // whatever the umask
    } finally {
      await h.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, {force: true});
    throw e;
  }
}

export type {RawConfig, RawProfile};
