/**
 * API-key client authentication. Keys are stored only as SHA-256 hashes in the policy
 * and compared in constant time; an unknown client is compared against a dummy key so
 * that it costs the same and answers the same as a wrong key.
 */
import crypto from 'node:crypto';
import {TvmError} from '../errors.ts';
import type {ApiKey, Client, CompiledPolicy} from '../policy/types.ts';

const DUMMY_KEYS: readonly ApiKey[] = Object.freeze([
  Object.freeze({
    sha256: crypto.createHash('sha256').update('tvm:no-such-client').digest(),
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
  basic: boolean,
): Client {
  const client = policy.clients.get(clientId);
  const candidate = crypto.createHash('sha256').update(secret, 'utf8').digest();
  const match = matchKey(candidate, client?.apiKeys ?? DUMMY_KEYS);
  if (
    client &&
    match &&
    (match.expiresAt === undefined || now < match.expiresAt)
  ) {
    return client;
  }
  throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
    basicChallenge: basic,
    detail: !client ? 'unknown client' : !match ? 'wrong key' : 'expired key',
  });
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
