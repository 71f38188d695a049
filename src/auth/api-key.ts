/**
 * API keys: the client secrets of tvm (RFC 6749 §2.3.1). Made here, shown to their
 * owner once; the service and the policy hold only their SHA-256, compared in constant
 * time. An unknown client is compared against a dummy key, so it costs the same and is
 * answered the same as a wrong key.
 *
 * Format: `tvm_` followed by 43 base64url characters (32 random bytes, 256 bits).
 * Matching regex, for secret scanners: `tvm_[A-Za-z0-9_-]{43}`.
 *
 * Why SHA-256 and not a slow password hash: the key is 256 bits from a CSPRNG, so
 * guessing is hopeless whatever the hash; a fast hash keeps the token endpoint cheap
 * and lets the policy be public-ish (a leaked policy reveals no usable secret).
 */
import crypto from 'node:crypto';
import {TvmError} from '../errors.ts';
import type {ApiKey, Client, CompiledPolicy} from '../policy/types.ts';

/** Recognisable prefix, so leaked keys can be found by secret scanners and in diffs. */
export const API_KEY_PREFIX = 'tvm_';
/** Random bytes in a key: 256 bits, far beyond guessing, as strong as the SHA-256 that stores it. */
export const API_KEY_RANDOM_BYTES = 32;
/** The exact shape of a key tvm makes (43 = base64url length of 32 bytes, unpadded). */
export const API_KEY_PATTERN = /^tvm_[A-Za-z0-9_-]{43}$/;

/**
 * Makes a new API key from the operating system's CSPRNG. Print it once and forget it:
 * only `apiKeySha256Hex(key)` goes into the policy.
 */
export function generateApiKey(): string {
  return (
    API_KEY_PREFIX +
    crypto.randomBytes(API_KEY_RANDOM_BYTES).toString('base64url')
  );
}

/**
 * SHA-256 of the UTF-8 bytes of `key`: the form compared (in constant time, by the
 * caller) with the policy's `api_keys[].sha256`. Any string is hashed, not only keys
 * that look right, so a malformed secret costs the same as a wrong one.
 */
export function hashApiKey(key: string): Buffer {
  // One-shot: no Hash object per request (this runs on every API-key request).
  return crypto.hash('sha256', key, 'buffer');
}

/** `hashApiKey` as 64 lowercase hex digits: the `sha256:` value of the policy. */
export function apiKeySha256Hex(key: string): string {
  return hashApiKey(key).toString('hex');
}

/**
 * True when `s` has the shape of a tvm API key. For scanners, log redaction and
 * friendly CLI hints only: never a substitute for checking the hash.
 */
export function looksLikeApiKey(s: string): boolean {
  return API_KEY_PATTERN.test(s);
}

const DUMMY_KEYS: readonly ApiKey[] = Object.freeze([
  Object.freeze({
    sha256: hashApiKey('tvm:no-such-client'),
    expiresAt: undefined,
  }),
]);

/**
 * The client whose API key `secret` is, or TvmError invalid_client. The same error,
 * with the same description, for an unknown client, a wrong key and an expired key.
 */
export function authenticateApiKey(
  policy: CompiledPolicy,
  clientId: string,
  secret: string,
  now: number,
): Client {
  const client = policy.clients.get(clientId);
  const candidate = hashApiKey(secret);
  const match = matchKey(candidate, client?.apiKeys ?? DUMMY_KEYS);
  if (
    client &&
    match &&
    (match.expiresAt === undefined || now < match.expiresAt)
  ) {
    return client;
  }
  throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
    detail: !client ? 'unknown client' : !match ? 'wrong key' : 'expired key',
  });
}

/**
 * The client whose API key `key` is, found by the key's hash alone (no client id is
 * sent with it: a bearer, or an API key as a subject token). Throws TvmError
 * invalid_client. A map lookup on the hash of a 256-bit random key lets timing reveal
 * nothing usable.
 */
export function authenticateApiKeyAlone(
  policy: CompiledPolicy,
  key: string,
  now: number,
): Client {
  const hash = hashApiKey(key);
  const client = policy.clientsByApiKey.get(hash.toString('hex'));
  const found = client?.apiKeys.find(k => k.sha256.equals(hash));
  if (
    !client ||
    !found ||
    (found.expiresAt !== undefined && now >= found.expiresAt)
  ) {
    throw new TvmError('ERR_INVALID_CLIENT', 'The credential is not valid.', {
      detail: !client ? 'unknown key' : 'expired key',
    });
  }
  return client;
}

/**
 * The key whose hash equals `candidate`. Every key is compared, with
 * crypto.timingSafeEqual, whatever the outcome, so timing says nothing about which.
 */
export function matchKey(
  candidate: Buffer,
  keys: readonly ApiKey[],
): ApiKey | undefined {
  let found: ApiKey | undefined;
  for (const k of keys) {
    if (crypto.timingSafeEqual(candidate, k.sha256) && !found) found = k;
  }
  return found;
}
