/**
 * A profile's proof of identity, read when a request is made: an API key (file or
 * environment variable), an OIDC token (file, URL or command), or a client assertion
 * signed with the profile's private key (RFC 7523 §2.2, private_key_jwt).
 */

import {execFile} from 'node:child_process';
import {randomUUID, createPrivateKey} from 'node:crypto';
import {readFile} from 'node:fs/promises';
import {CliError, fsReason} from './errors.ts';
import {readSecretFile, type Profile} from './profiles.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * RFC 8693 §3 token type identifiers of OIDC subject tokens (the same values as
 * src/oidc/subject-token.ts, restated so the CLI's hot path does not load the
 * server's verifier).
 */
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** Deadline for an OIDC token URL or command. */
const SOURCE_TIMEOUT_MS = 30_000;

/** The API key of an API-key profile. */
export async function readApiKey(profile: Profile, env: Env): Promise<string> {
  const c = profile.credential;
  if (c.kind === 'api_key_file') return readSecretFile(c.path, 'API key');
  if (c.kind === 'api_key_env') {
    const v = env[c.variable]?.trim();
    if (!v) {
      throw new CliError(
        'ERR_SECRET',
        `environment variable ${c.variable} (profile ${profile.name}'s API key) is empty or unset`,
      );
    }
    return v;
  }
  throw new TypeError(`profile ${profile.name} has no API key`);
}

/** True when the profile authenticates with an OIDC token (token exchange). */
export function isOidc(profile: Profile): boolean {
  return profile.credential.kind.startsWith('oidc_');
}

/**
 * The OIDC token of an OIDC profile, from its file, URL or command. OIDC token files
 * are not held to mode 0600: a platform writes them (a kubelet's projected token is
 * 0644 by default), and they are short-lived and bound to tvm's audience.
 */
export async function readOidcToken(profile: Profile): Promise<string> {
  const c = profile.credential;
  let token: string;
  switch (c.kind) {
    case 'oidc_token_file':
      try {
        token = (await readFile(c.path, 'utf8')).trim();
      } catch (e) {
        throw new CliError(
          'ERR_SUBJECT_TOKEN',
          `cannot read the OIDC token file ${c.path} (profile ${profile.name}): ${fsReason(e)}`,
        );
      }
      break;
    case 'oidc_token_url':
      token = await fromUrl(c.url, profile.name);
      break;
    case 'oidc_token_command':
      token = await fromCommand(c.command, profile.name);
      break;
    default:
      throw new TypeError(`profile ${profile.name} has no OIDC token source`);
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new CliError(
      'ERR_SUBJECT_TOKEN',
      `the OIDC token source of profile ${profile.name} gave something that is not a JWT`,
    );
  }
  return token;
}

async function fromUrl(url: string, profile: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      redirect: 'manual',
      signal: AbortSignal.timeout(SOURCE_TIMEOUT_MS),
    });
  } catch (e) {
    throw new CliError(
      'ERR_SUBJECT_TOKEN',
      `cannot fetch the OIDC token from ${url} (profile ${profile}): ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`,
    );
  }
  const text = (await res.text()).trim();
  if (res.status !== 200) {
    throw new CliError(
      'ERR_SUBJECT_TOKEN',
      `the OIDC token URL ${url} (profile ${profile}) answered HTTP ${res.status}`,
    );
  }
  return text;
}

function fromCommand(command: string, profile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      {timeout: SOURCE_TIMEOUT_MS, maxBuffer: 64 * 1024},
      (error, stdout, stderr) => {
        if (error) {
          // The command's own first stderr line says why; its stdout may be a token.
          const why = stderr.trim().split('\n')[0]?.slice(0, 200);
          reject(
            new CliError(
              'ERR_SUBJECT_TOKEN',
              `the OIDC token command of profile ${profile} failed (${error.killed ? 'timed out' : `exit ${String(error.code)}`})${why ? `: ${why}` : ''}`,
            ),
          );
          return;
        }
        resolve(stdout.trim());
      },
    );
  });
}

/**
 * A client assertion for a private_key_jwt profile (RFC 7523 §3): iss = sub = the
 * client id, aud = tvm's issuer (TVM_ISSUER: the profile's issuer, else its url),
 * a fresh jti, one minute of life.
 */
export async function signAssertion(
  profile: Profile,
  now: number,
): Promise<string> {
  const c = profile.credential;
  if (c.kind !== 'private_key_file') {
    throw new TypeError(`profile ${profile.name} has no private key`);
  }
  const pem = await readSecretFile(c.path, 'private key');
  let key;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CliError(
      'ERR_SECRET',
      `the private key file ${c.path} (profile ${profile.name}) holds no PEM private key tvm can use`,
    );
  }
  const alg = algorithmFor(key.asymmetricKeyType, key.asymmetricKeyDetails);
  if (!alg) {
    throw new CliError(
      'ERR_SECRET',
      `the private key in ${c.path} is ${key.asymmetricKeyType}; use an EC P-256/P-384, RSA or Ed25519 key`,
    );
  }
  const iat = Math.floor(now / 1000);
  // Loaded here, not at the top: only private_key_jwt profiles need it.
  const {SignJWT} = await import('jose');
  return new SignJWT({})
    .setProtectedHeader(c.keyId ? {alg, kid: c.keyId} : {alg})
    .setIssuer(profile.clientId!)
    .setSubject(profile.clientId!)
    .setAudience(profile.issuer)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .sign(key);
}

function algorithmFor(
  type: string | undefined,
  details: {namedCurve?: string} | undefined,
): string | undefined {
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ec' && details?.namedCurve === 'secp384r1') return 'ES384';
  return undefined;
}
