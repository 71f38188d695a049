/**
 * Service-account keys read from Secret Manager for `mint: key`, reused for a bounded
 * time (src/mint/secret-cache.ts: stale keys while Secret Manager is down, never after
 * a refusal). Keys are held per (secret, account): a key is only ever used for the
 * account it was read (and checked) for, even if a policy reload points another
 * account at the secret.
 */
import * as z from '../zod.ts';
import type {Clock, MonotonicClock} from '../clock.ts';
import {fingerprint} from '../fingerprint.ts';
import type {ServiceAccountKey} from '../google/oauth2.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {UpstreamError, refused} from '../google/upstream.ts';
import type {ServiceAccount} from '../policy/types.ts';
import {asciiLower} from '../text.ts';
import {createSecretCache} from './secret-cache.ts';

const KeyFile = z.object({
  type: z.literal('service_account'),
  client_email: z.string().check(z.minLength(3), z.maxLength(320)),
  private_key: z
    .string()
    .check(z.startsWith('-----BEGIN PRIVATE KEY-----'), z.maxLength(16_384)),
  private_key_id: z.optional(z.string().check(z.maxLength(128))),
});

export interface KeyCacheDeps {
  readonly secrets: SecretReader;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  /** How long a key read from Secret Manager is reused before it is read again (default 300). */
  readonly ttlSeconds?: number;
  /** A key that cannot be re-read keeps serving at most this long after it was read (default 3600). */
  readonly maxStaleSeconds?: number;
}

export interface KeyCache {
  /** The key of `sa`, read within `deadline` (monotonic ms) when not held fresh. */
  get(sa: ServiceAccount, deadline: number): Promise<ServiceAccountKey>;
}

/** Creates an empty key cache. */
export function createKeyCache(deps: KeyCacheDeps): KeyCache {
  const cache = createSecretCache<ServiceAccountKey>(deps);
  return {
    get: (sa, deadline) =>
      cache.get(
        {
          name: sa.keySecret!,
          slot: JSON.stringify([sa.keySecret, sa.email]),
          parse: bytes => parseKey(bytes, sa),
        },
        deadline,
      ),
  };
}

/** Parses and checks a key file: it must be a service-account key for `sa`. */
function parseKey(bytes: Buffer, sa: ServiceAccount): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw refused(
      new UpstreamError(`secret ${sa.keySecret} does not hold JSON`, false),
    );
  }
  const parsed = KeyFile.safeParse(json);
  if (!parsed.success) {
    throw refused(
      new UpstreamError(
        `secret ${sa.keySecret} does not hold a service-account key file`,
        false,
      ),
    );
  }
  if (asciiLower(parsed.data.client_email) !== sa.email) {
    throw refused(
      new UpstreamError(
        `secret ${sa.keySecret} holds a key for another account (fingerprint ${fingerprint(parsed.data.client_email)})`,
        false,
      ),
    );
  }
  return {
    client_email: parsed.data.client_email,
    private_key: parsed.data.private_key,
    private_key_id: parsed.data.private_key_id,
  };
}
