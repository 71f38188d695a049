/**
 * Configuration: a pure function of the environment, read and validated once at start.
 * A bad value stops the start with a ConfigError naming the variable.
 *
 * `CONFIG_VARIABLES` is the single list of what tvm reads; the Terraform module's
 * function environment is checked against it by the test suite.
 */
import {ConfigError} from './errors.ts';

export interface Config {
  /** A file path, or a Secret Manager version name `projects/P/secrets/S/versions/V`. */
  readonly policySource: string | undefined;
  readonly port: number;
  /** This deployment's OAuth issuer identifier (no trailing slash). */
  readonly issuer: string | undefined;
  readonly local: boolean;
  /** Running on Cloud Functions / Cloud Run (K_SERVICE is set by the platform). */
  readonly onPlatform: boolean;
  readonly iamCredentialsEndpoint: string;
  readonly oauth2TokenUrl: string;
  readonly secretManagerEndpoint: string;
  readonly stsEndpoint: string;
  readonly metadataHost: string | undefined;
  /** How often a Secret Manager-held policy is re-read. */
  readonly policyRefreshSeconds: number;
  /**
   * How many reverse-proxy hops in front of the function append to X-Forwarded-For.
   * On Cloud Functions 2nd gen / Cloud Run, Google's front end is exactly one; the
   * client address is then the rightmost entry, never one the caller wrote.
   */
  readonly trustedProxyHops: number;
  /** Requests per minute per client IP, before authentication. */
  readonly rateLimitPerIp: number;
  /** Requests per minute per authenticated client. */
  readonly rateLimitPerClient: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

/** Every environment variable tvm reads, with what it means. */
export const CONFIG_VARIABLES = Object.freeze({
  TVM_POLICY:
    'where the policy is: a file path or a Secret Manager version name',
  PORT: 'listening port (default 8080)',
  TVM_ISSUER:
    "this deployment's public base URL, its OAuth issuer identifier (the aud of client assertions)",
  TVM_LOCAL: '1: run against the built-in local Google emulator',
  TVM_IAM_CREDENTIALS_ENDPOINT: 'base URL of the IAM Credentials API',
  TVM_OAUTH2_TOKEN_URL:
    "Google's OAuth 2.0 token endpoint for key-based minting",
  TVM_SECRET_MANAGER_ENDPOINT:
    'the Secret Manager API; http:// means plaintext gRPC, loopback only',
  TVM_STS_ENDPOINT: "base URL of Google's STS",
  GCE_METADATA_HOST: "where the function's own identity comes from",
  TVM_POLICY_REFRESH_SECONDS:
    'how often a Secret Manager-held policy is re-read (default 60)',
  TVM_TRUSTED_PROXY_HOPS:
    'proxies in front that append to X-Forwarded-For (default 1 on Cloud Functions, else 0)',
  TVM_RATE_LIMIT_PER_IP:
    'token requests per minute per client IP (default 120)',
  TVM_RATE_LIMIT_PER_CLIENT:
    'token requests per minute per authenticated client (default 600)',
  TVM_LOG_LEVEL: 'debug | info | warn | error | silent (default info)',
} as const);

export type ConfigVariable = keyof typeof CONFIG_VARIABLES;

type Env = Readonly<Record<string, string | undefined>>;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Reads tvm's configuration from `env`. Throws ConfigError naming the first variable
 * whose value cannot be used.
 */
export function parseConfig(env: Env = process.env): Config {
  const local = flag(env, 'TVM_LOCAL');
  const onPlatform = Boolean(env.K_SERVICE);
  return Object.freeze({
    policySource: optional(env, 'TVM_POLICY'),
    port: integer(env, 'PORT', 8080, 0, 65535),
    issuer: issuer(env),
    local,
    onPlatform,
    iamCredentialsEndpoint: endpoint(
      env,
      'TVM_IAM_CREDENTIALS_ENDPOINT',
      'https://iamcredentials.googleapis.com',
    ),
    oauth2TokenUrl: endpoint(
      env,
      'TVM_OAUTH2_TOKEN_URL',
      'https://oauth2.googleapis.com/token',
      true,
    ),
    secretManagerEndpoint: endpoint(
      env,
      'TVM_SECRET_MANAGER_ENDPOINT',
      'https://secretmanager.googleapis.com',
    ),
    stsEndpoint: endpoint(
      env,
      'TVM_STS_ENDPOINT',
      'https://sts.googleapis.com',
    ),
    metadataHost: optional(env, 'GCE_METADATA_HOST'),
    policyRefreshSeconds: integer(
      env,
      'TVM_POLICY_REFRESH_SECONDS',
      60,
      5,
      86400,
    ),
    trustedProxyHops: integer(
      env,
      'TVM_TRUSTED_PROXY_HOPS',
      onPlatform ? 1 : 0,
      0,
      5,
    ),
    rateLimitPerIp: integer(env, 'TVM_RATE_LIMIT_PER_IP', 120, 1, 1_000_000),
    rateLimitPerClient: integer(
      env,
      'TVM_RATE_LIMIT_PER_CLIENT',
      600,
      1,
      1_000_000,
    ),
    logLevel: oneOf(
      env,
      'TVM_LOG_LEVEL',
      ['debug', 'info', 'warn', 'error', 'silent'],
      'info',
    ),
  });
}

function optional(env: Env, name: ConfigVariable): string | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  return v.trim();
}

function flag(env: Env, name: ConfigVariable): boolean {
  const v = optional(env, name);
  if (v === undefined || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new ConfigError(name, `expected 1 or 0, got ${JSON.stringify(v)}`);
}

function integer(
  env: Env,
  name: ConfigVariable,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = optional(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v))
    throw new ConfigError(
      name,
      `expected an integer, got ${JSON.stringify(v)}`,
    );
  const n = Number(v);
  if (n < min || n > max)
    throw new ConfigError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(
  env: Env,
  name: ConfigVariable,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = optional(env, name);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(
      name,
      `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`,
    );
  }
  return v as T;
}

/**
 * An endpoint URL: http(s), a host, an optional port, no credentials, query or
 * fragment. Plain http is accepted only for loopback hosts: these endpoints carry
 * bearer tokens.
 */
function endpoint(
  env: Env,
  name: ConfigVariable,
  fallback: string,
  allowPath = false,
): string {
  const v = optional(env, name);
  if (v === undefined) return fallback;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError(name, `not a URL: ${JSON.stringify(v)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(name, 'must be an http(s) URL');
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new ConfigError(
      name,
      'plain http is allowed only for loopback addresses',
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      name,
      'must not carry credentials, a query or a fragment',
    );
  }
  if (!allowPath && url.pathname !== '/') {
    throw new ConfigError(
      name,
      'must be an origin (scheme, host, optional port) without a path',
    );
  }
  return allowPath ? url.href : url.origin;
}

function issuer(env: Env): string | undefined {
  const v = optional(env, 'TVM_ISSUER');
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError('TVM_ISSUER', `not a URL: ${JSON.stringify(v)}`);
  }
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
  ) {
    throw new ConfigError(
      'TVM_ISSUER',
      'must be an https URL (http only for loopback)',
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      'TVM_ISSUER',
      'must not carry credentials, a query or a fragment',
    );
  }
  return url.href.replace(/\/+$/, '');
}
