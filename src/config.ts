/**
 * Configuration: a pure function of the environment, read and validated once at start.
 * A bad value stops the start with a ConfigError naming the variable.
 *
 * `SETTINGS` below is the one declaration of every environment variable tvm reads:
 * its name, type, default, validation and help text. `Config`, `parseConfig`, the
 * README's configuration table (scripts/config-table.ts) and the check of the
 * Terraform module's function environment (test/deploy/terraform.test.ts) all derive
 * from it.
 */
import {ConfigError} from './errors.ts';
import {GOOGLE_ENDPOINTS} from './google/endpoints.ts';
import {
  parseSecretVersionName,
  type SecretVersionName,
} from './google/secret-version.ts';
import {isLoopbackAddress, isLoopbackUrl} from './loopback.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Who sets a variable in a deployment: `module` — the Terraform module
 * (terraform/modules/tvm); `platform` — Cloud Functions itself; `override` — nobody
 * by default: local mode, the tests, or an operator pointing tvm elsewhere.
 */
export type SetBy = 'module' | 'platform' | 'override';

/** One environment variable tvm reads. */
export interface Setting<V extends string, T> {
  readonly variable: V;
  /** One line for the README's configuration table. */
  readonly help: string;
  /** The default as the README shows it; undefined when there is none. */
  readonly defaultText: string | undefined;
  readonly setBy: SetBy;
  /** With TVM_LOCAL=1 the value must name a loopback address (the emulator). */
  readonly loopbackWhenLocal: boolean;
  /** For integers: the accepted range, inclusive. */
  readonly range?: {readonly min: number; readonly max: number};
  /** For enumerations: the accepted values. */
  readonly allowed?: readonly string[];
  /** The value of the variable in `env`; throws ConfigError naming it. */
  read(env: Env): T;
}

/** Where the policy is: a file, or a Secret Manager secret version. */
export type PolicyLocation =
  | {readonly kind: 'file'; readonly path: string}
  | {readonly kind: 'secret'; readonly version: SecretVersionName};

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = [
  'debug',
  'info',
  'warn',
  'error',
  'silent',
];

/**
 * Every environment variable tvm reads, keyed by its field in `Config`. The order is
 * the order of the README table and of the checks (the first bad value is reported).
 */
const SETTINGS = {
  policySource: setting({
    variable: 'TVM_POLICY',
    setBy: 'module',
    help: 'the policy: a file path, or a Secret Manager version `projects/P/secrets/S/versions/V` (re-read periodically; a bad new version is refused and the last good one stays)',
    read: policyLocation,
  }),
  port: integer({
    variable: 'PORT',
    setBy: 'platform',
    help: 'listening port',
    fallback: 8080,
    min: 0,
    max: 65535,
  }),
  issuer: setting({
    variable: 'TVM_ISSUER',
    setBy: 'module',
    help: "this deployment's public base URL, its OAuth issuer identifier (the `aud` of client assertions); https, or http on loopback",
    read: issuer,
  }),
  local: setting({
    variable: 'TVM_LOCAL',
    setBy: 'override',
    help: '`1`: local mode, against the built-in Google emulator; every Google endpoint must then be on loopback',
    defaultText: '`0`',
    read: flag,
  }),
  onPlatform: setting({
    variable: 'K_SERVICE',
    setBy: 'platform',
    help: 'set by Cloud Functions / Cloud Run: tvm runs there (see `TVM_TRUSTED_PROXY_HOPS`)',
    read: onPlatform,
  }),
  iamCredentialsEndpoint: endpoint({
    variable: 'TVM_IAM_CREDENTIALS_ENDPOINT',
    help: 'IAM Credentials API',
    fallback: GOOGLE_ENDPOINTS.iamCredentials,
  }),
  oauth2TokenUrl: endpoint({
    variable: 'TVM_OAUTH2_TOKEN_URL',
    help: "Google's OAuth 2.0 token endpoint for key-based minting and domain-wide delegation",
    fallback: GOOGLE_ENDPOINTS.oauth2Token,
    allowPath: true,
  }),
  secretManagerEndpoint: endpoint({
    variable: 'TVM_SECRET_MANAGER_ENDPOINT',
    help: 'Secret Manager API (`http://` = plaintext gRPC)',
    fallback: GOOGLE_ENDPOINTS.secretManager,
  }),
  stsEndpoint: endpoint({
    variable: 'TVM_STS_ENDPOINT',
    help: "Google's Security Token Service, which downscopes tokens to a Credential Access Boundary (`/v1/token`)",
    fallback: GOOGLE_ENDPOINTS.sts,
  }),
  project: setting({
    variable: 'GOOGLE_CLOUD_PROJECT',
    setBy: 'module',
    help: "the function's project, for the Cloud Logging trace field of log lines; unset: asked of the metadata server once at start (on the platform, or with `GCE_METADATA_HOST`)",
    read: projectId,
  }),
  metadataHost: setting({
    variable: 'GCE_METADATA_HOST',
    setBy: 'override',
    help: "the metadata server (`host:port`) that gives the function its own identity; unset: Google's",
    loopbackWhenLocal: true,
    read: (raw: string | undefined) => raw,
  }),
  policyRefreshSeconds: integer({
    variable: 'TVM_POLICY_REFRESH_SECONDS',
    setBy: 'module',
    help: 'how often a Secret Manager-held policy is re-read, in seconds',
    fallback: 60,
    min: 5,
    max: 86400,
  }),
  /**
   * How many reverse-proxy hops in front of the function append to X-Forwarded-For.
   * On Cloud Functions 2nd gen / Cloud Run, Google's front end is exactly one; the
   * client address is then the rightmost entry, never one the caller wrote.
   */
  trustedProxyHops: integer({
    variable: 'TVM_TRUSTED_PROXY_HOPS',
    setBy: 'module',
    help: 'proxies in front that append to `X-Forwarded-For`',
    fallback: env => (onPlatform(trimmed(env.K_SERVICE)) ? 1 : 0),
    defaultText:
      "`1` on Cloud Functions (`K_SERVICE` set: Google's front end), else `0`",
    min: 0,
    max: 5,
  }),
  rateLimitPerIp: integer({
    variable: 'TVM_RATE_LIMIT_PER_IP',
    setBy: 'module',
    help: 'token requests per minute per client address (IPv6 by /56), before authentication',
    fallback: 120,
    min: 1,
    max: 1_000_000,
  }),
  rateLimitPerClient: integer({
    variable: 'TVM_RATE_LIMIT_PER_CLIENT',
    setBy: 'module',
    help: 'token requests per minute per authenticated client',
    fallback: 600,
    min: 1,
    max: 1_000_000,
  }),
  redis: setting({
    variable: 'TVM_REDIS_URL',
    setBy: 'module',
    help: 'the shared store (Memorystore for Redis or Valkey): `rediss://HOST:PORT` (plain `redis://` only on loopback); unset: every instance keeps its own rate limits, replay guard and token cache. A password in the URL only off the platform (else `TVM_REDIS_AUTH_SECRET`); see docs/shared-store.md',
    read: redisLocation,
  }),
  redisCa: setting({
    variable: 'TVM_REDIS_CA',
    setBy: 'module',
    help: "the PEM certificate(s) of the Redis server's CA, for `rediss://` (Memorystore's `server_ca_certs`); unset: the system's CAs",
    read: pemCertificates,
  }),
  redisAuthSecret: setting({
    variable: 'TVM_REDIS_AUTH_SECRET',
    setBy: 'module',
    help: 'the Secret Manager version `projects/P/secrets/S/versions/V` holding the Redis AUTH string (read once at start)',
    read: secretVersion,
  }),
  cacheKeySecret: setting({
    variable: 'TVM_CACHE_KEY_SECRET',
    setBy: 'module',
    help: 'the Secret Manager version holding the 256-bit key that encrypts tokens in the shared store (32 bytes, raw or base64; read once at start)',
    read: secretVersion,
  }),
  cacheKey: setting({
    variable: 'TVM_CACHE_KEY',
    setBy: 'override',
    help: 'off the platform only (local mode, tests): that key as base64, in place of `TVM_CACHE_KEY_SECRET`',
    read: cacheKey,
  }),
  redisTimeoutMs: integer({
    variable: 'TVM_REDIS_TIMEOUT_MS',
    setBy: 'override',
    help: 'how long one shared-store command may take before tvm falls back (rate limits, token cache) or refuses with 503 (replay guard), in ms',
    fallback: 500,
    min: 20,
    max: 10_000,
  }),
  logLevel: oneOf({
    variable: 'TVM_LOG_LEVEL',
    setBy: 'module',
    help: 'how much is logged',
    allowed: LOG_LEVELS,
    fallback: 'info',
  }),
};

type Settings = typeof SETTINGS;

/** tvm's configuration: one field per entry of `SETTINGS`. */
export type Config = {
  readonly [K in keyof Settings]: ReturnType<Settings[K]['read']>;
};

/** The name of an environment variable tvm reads. */
export type ConfigVariable = Settings[keyof Settings]['variable'];

/** Every setting, in declaration order, with the `Config` field it fills. */
export const CONFIG_SETTINGS: readonly (Setting<ConfigVariable, unknown> & {
  readonly field: keyof Config;
})[] = Object.freeze(
  Object.entries(SETTINGS).map(([field, s]) =>
    Object.freeze({...s, field: field as keyof Config}),
  ),
);

/** Every environment variable tvm reads, with its help text. */
export const CONFIG_VARIABLES: Readonly<Record<ConfigVariable, string>> =
  Object.freeze(
    Object.fromEntries(
      CONFIG_SETTINGS.map(s => [s.variable, s.help]),
    ) as Record<ConfigVariable, string>,
  );

/**
 * Reads tvm's configuration from `env`. Throws ConfigError naming the first variable
 * whose value cannot be used; with TVM_LOCAL=1, also the first endpoint that leaves
 * the machine.
 */
export function parseConfig(env: Env = process.env): Config {
  const fields: Record<string, unknown> = {};
  for (const s of CONFIG_SETTINGS) fields[s.field] = s.read(env);
  const config = fields as Config;
  checkSharedStore(config);
  if (config.local) {
    // Local mode talks to the emulator only: refuse endpoints that leave the machine.
    for (const s of CONFIG_SETTINGS) {
      const value = config[s.field];
      if (
        s.loopbackWhenLocal &&
        (typeof value !== 'string' || !isLoopbackAddress(value))
      ) {
        throw new ConfigError(
          s.variable,
          'with TVM_LOCAL=1 it must point at the local emulator (loopback)',
        );
      }
    }
  }
  return Object.freeze(config);
}

// ---------------------------------------------------------------------------------
// Kinds of setting. Each reads the trimmed value; an empty value counts as unset.
// ---------------------------------------------------------------------------------

function setting<V extends string, T>(d: {
  variable: V;
  setBy: SetBy;
  help: string;
  defaultText?: string;
  loopbackWhenLocal?: boolean;
  read: (raw: string | undefined, variable: V, env: Env) => T;
}): Setting<V, T> {
  return Object.freeze({
    variable: d.variable,
    setBy: d.setBy,
    help: d.help,
    defaultText: d.defaultText,
    loopbackWhenLocal: d.loopbackWhenLocal ?? false,
    read: (env: Env) => d.read(trimmed(env[d.variable]), d.variable, env),
  });
}

function trimmed(v: string | undefined): string | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  return v.trim();
}

/**
 * A project ID: 6 to 30 lowercase letters, digits and hyphens, from a letter, not to a
 * hyphen; a legacy domain-scoped one has its domain and a colon before it.
 */
const PROJECT_ID =
  /^(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

function projectId(
  raw: string | undefined,
  variable: string,
): string | undefined {
  if (raw === undefined) return undefined;
  if (!PROJECT_ID.test(raw)) {
    throw new ConfigError(
      variable,
      `expected a Google Cloud project ID, got ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

/** K_SERVICE is set by the platform on Cloud Functions 2nd gen and Cloud Run. */
function onPlatform(raw: string | undefined): boolean {
  return raw !== undefined;
}

function flag(raw: string | undefined, variable: string): boolean {
  if (raw === undefined || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(
    variable,
    `expected 1 or 0, got ${JSON.stringify(raw)}`,
  );
}

/** An integer in `min..max`; `fallback` may depend on other variables. */
function integer<V extends string>(d: {
  variable: V;
  setBy: SetBy;
  help: string;
  fallback: number | ((env: Env) => number);
  defaultText?: string;
  min: number;
  max: number;
}): Setting<V, number> {
  const {fallback, min, max} = d;
  return Object.freeze({
    ...setting({
      ...d,
      help: `${d.help} (${min} to ${max})`,
      defaultText:
        d.defaultText ??
        (typeof fallback === 'number' ? `\`${fallback}\`` : undefined),
      read: (raw: string | undefined, variable: V, env: Env) => {
        if (raw === undefined)
          return typeof fallback === 'number' ? fallback : fallback(env);
        const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (!(n >= min && n <= max))
          throw new ConfigError(
            variable,
            `must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`,
          );
        return n;
      },
    }),
    range: Object.freeze({min, max}),
  });
}

/** One of `allowed`. */
function oneOf<V extends string, T extends string>(d: {
  variable: V;
  setBy: SetBy;
  help: string;
  allowed: readonly T[];
  fallback: T;
}): Setting<V, T> {
  const {allowed, fallback} = d;
  return Object.freeze({
    ...setting({
      ...d,
      help: `${d.help}: ${allowed.map(a => `\`${a}\``).join(', ')}`,
      defaultText: `\`${fallback}\``,
      read: (raw: string | undefined, variable: V): T => {
        if (raw === undefined) return fallback;
        if (!(allowed as readonly string[]).includes(raw)) {
          throw new ConfigError(
            variable,
            `expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`,
          );
        }
        return raw as T;
      },
    }),
    allowed,
  });
}

/**
 * An endpoint URL: http(s), a host, an optional port, no credentials, query or
 * fragment. Plain http is accepted only for loopback hosts: these endpoints carry
 * bearer tokens. Endpoints exist for Private Service Connect and restricted VIPs, and
 * they are how local mode and the tests point Google's client libraries at the
 * emulator; with TVM_LOCAL=1 they must be loopback.
 */
function endpoint<V extends string>(d: {
  variable: V;
  help: string;
  fallback: string;
  allowPath?: boolean;
}): Setting<V, string> {
  const allowPath = d.allowPath ?? false;
  return setting({
    variable: d.variable,
    setBy: 'override',
    help: d.help,
    defaultText: `\`${d.fallback}\``,
    loopbackWhenLocal: true,
    read: (raw: string | undefined, variable: V) => {
      if (raw === undefined) return d.fallback;
      const url = urlOf(raw, variable);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new ConfigError(variable, 'must be an http(s) URL');
      }
      if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
        throw new ConfigError(
          variable,
          'plain http is allowed only for loopback addresses',
        );
      }
      noCredentialsQueryOrFragment(url, variable);
      if (!allowPath && url.pathname !== '/') {
        throw new ConfigError(
          variable,
          'must be an origin (scheme, host, optional port) without a path',
        );
      }
      return allowPath ? url.href : url.origin;
    },
  });
}

function issuer(raw: string | undefined, variable: string): string | undefined {
  if (raw === undefined) return undefined;
  const url = urlOf(raw, variable);
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && isLoopbackUrl(url))
  ) {
    throw new ConfigError(
      variable,
      'must be an https URL (http only for loopback)',
    );
  }
  noCredentialsQueryOrFragment(url, variable);
  return url.href.replace(/\/+$/, '');
}

/**
 * A Secret Manager version name, or else a file path. A value shaped like a Secret
 * Manager name that is not a valid version name is refused rather than read as a
 * file: a file that really lives under such a path is named `./projects/...`.
 */
function policyLocation(
  raw: string | undefined,
  variable: string,
): PolicyLocation | undefined {
  if (raw === undefined) return undefined;
  const version = parseSecretVersionName(raw);
  if (version) return Object.freeze({kind: 'secret', version});
  if (/^projects\/[^/]+\/secrets\//.test(raw)) {
    throw new ConfigError(
      variable,
      `not a Secret Manager version name projects/PROJECT/secrets/SECRET/versions/VERSION: ${JSON.stringify(raw)} (a file there: write ./${raw})`,
    );
  }
  return Object.freeze({kind: 'file', path: raw});
}

function urlOf(raw: string, variable: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new ConfigError(variable, `not a URL: ${JSON.stringify(raw)}`);
  }
}

function noCredentialsQueryOrFragment(url: URL, variable: string): void {
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      variable,
      'must not carry credentials, a query or a fragment',
    );
  }
}

// ---------------------------------------------------------------------------------
// The shared store (docs/shared-store.md).
// ---------------------------------------------------------------------------------

/** Where the shared store is; the password, when the URL carried one, kept apart. */
export interface RedisLocation {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  /** From the URL (local mode, tests); never logged. */
  readonly password: string | undefined;
  /** The URL without credentials, for logs. */
  readonly display: string;
}

function redisLocation(
  raw: string | undefined,
  variable: string,
  env: Env,
): RedisLocation | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo the value: it may carry a password.
    throw new ConfigError(variable, 'not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(variable, 'must be a redis:// or rediss:// URL');
  }
  const tls = url.protocol === 'rediss:';
  if (!tls && !isLoopbackUrl(url)) {
    throw new ConfigError(
      variable,
      'plain redis:// is allowed only for loopback addresses: use rediss:// (in-transit encryption)',
    );
  }
  if (flag(trimmed(env.TVM_LOCAL), 'TVM_LOCAL') && !isLoopbackUrl(url)) {
    throw new ConfigError(
      variable,
      'with TVM_LOCAL=1 it must point at a local Redis (loopback)',
    );
  }
  if (url.search || url.hash) {
    throw new ConfigError(variable, 'must not carry a query or a fragment');
  }
  const db =
    url.pathname === '' || url.pathname === '/' ? '0' : url.pathname.slice(1);
  if (!/^\d{1,2}$/.test(db)) {
    throw new ConfigError(variable, 'the path, if any, is a database number');
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if (password !== undefined && onPlatform(trimmed(env.K_SERVICE))) {
    throw new ConfigError(
      variable,
      'a password in the URL is for local use only: put the AUTH string in Secret Manager and name it in TVM_REDIS_AUTH_SECRET',
    );
  }
  const port = url.port ? Number(url.port) : 6379;
  return Object.freeze({
    tls,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db: Number(db),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password,
    display: `${url.protocol}//${url.host}/${db}`,
  });
}

function pemCertificates(
  raw: string | undefined,
  variable: string,
): string | undefined {
  if (raw === undefined) return undefined;
  const text = raw.replace(/\\n/g, '\n');
  if (
    !/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text)
  ) {
    throw new ConfigError(
      variable,
      'expected PEM certificates (-----BEGIN CERTIFICATE-----)',
    );
  }
  return text;
}

function secretVersion(
  raw: string | undefined,
  variable: string,
): SecretVersionName | undefined {
  if (raw === undefined) return undefined;
  const version = parseSecretVersionName(raw);
  if (!version) {
    throw new ConfigError(
      variable,
      `not a Secret Manager version name projects/PROJECT/secrets/SECRET/versions/VERSION: ${JSON.stringify(raw)}`,
    );
  }
  return version;
}

/** 32 bytes as base64 (standard or url-safe); never echoed. */
function cacheKey(
  raw: string | undefined,
  variable: string,
  env: Env,
): Buffer | undefined {
  if (raw === undefined) return undefined;
  if (onPlatform(trimmed(env.K_SERVICE))) {
    throw new ConfigError(
      variable,
      'for local use only: put the key in Secret Manager and name it in TVM_CACHE_KEY_SECRET',
    );
  }
  const key = decodeCacheKey(Buffer.from(raw, 'utf8'));
  if (!key) {
    throw new ConfigError(
      variable,
      'expected 32 bytes as base64 (44 characters)',
    );
  }
  return key;
}

/** A 256-bit key from a secret's bytes: 32 raw bytes, or their base64; else undefined. */
export function decodeCacheKey(bytes: Buffer): Buffer | undefined {
  if (bytes.length === 32) return Buffer.from(bytes);
  const text = bytes.toString('utf8').trim();
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return undefined;
  const key = Buffer.from(text, 'base64');
  return key.length === 32 ? key : undefined;
}

/** The settings of the shared store go together. */
function checkSharedStore(config: Config): void {
  if (!config.redis) {
    for (const [field, variable] of [
      ['redisCa', 'TVM_REDIS_CA'],
      ['redisAuthSecret', 'TVM_REDIS_AUTH_SECRET'],
      ['cacheKeySecret', 'TVM_CACHE_KEY_SECRET'],
      ['cacheKey', 'TVM_CACHE_KEY'],
    ] as const) {
      if (config[field] !== undefined) {
        throw new ConfigError(variable, 'set without TVM_REDIS_URL');
      }
    }
    return;
  }
  if (config.redisCa !== undefined && !config.redis.tls) {
    throw new ConfigError('TVM_REDIS_CA', 'only for a rediss:// URL');
  }
  if (config.redisAuthSecret !== undefined && config.redis.password) {
    throw new ConfigError(
      'TVM_REDIS_AUTH_SECRET',
      'the URL carries a password too: give one or the other',
    );
  }
  if (
    (config.cacheKey === undefined) ===
    (config.cacheKeySecret === undefined)
  ) {
    throw new ConfigError(
      'TVM_CACHE_KEY_SECRET',
      'with TVM_REDIS_URL, exactly one of TVM_CACHE_KEY_SECRET and TVM_CACHE_KEY names the key that encrypts tokens at rest',
    );
  }
}
