/**
 * Service-account keys read from Secret Manager for `mint: key`, reused for a bounded
 * time. When a re-read fails with a retryable error, the key in hand keeps serving
 * until it is too stale; a refusal (disabled, destroyed, permission removed) stops it
 * at once: never fall back to anything weaker. Keys are held per (secret, account):
 * a key is only ever used for the account it was read (and checked) for, even if a
 * policy reload points another account at the secret.
 */
import * as z from 'zod';
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import type {ServiceAccountKey} from '../google/oauth2.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {
  ATTEMPT_TIMEOUT_MS,
  UpstreamError,
  refused,
  withRetry,
} from '../google/upstream.ts';
import type {ServiceAccount} from '../policy/types.ts';
import {asciiLower} from '../text.ts';

/** How long a re-read of a key may take before the key in hand is used instead. */
const STALE_REREAD_BUDGET_MS = 1_000;
/** Keys held at most; the oldest goes first. */
const MAX_ENTRIES = 1024;

const KeyFile = z.object({
  type: z.literal('service_account'),
  client_email: z.string().min(3).max(320),
  private_key: z.string().startsWith('-----BEGIN PRIVATE KEY-----').max(16_384),
  private_key_id: z.string().max(128).optional(),
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

interface KeyEntry {
  readonly key: ServiceAccountKey;
  readonly readAt: number;
}

/** Creates an empty key cache. */
export function createKeyCache(deps: KeyCacheDeps): KeyCache {
  const {clock, monotonic} = deps;
  const ttl = (deps.ttlSeconds ?? 300) * 1000;
  const maxStale = (deps.maxStaleSeconds ?? 3600) * 1000;
  const entries = new Map<string, KeyEntry>();
  const inflight = new Map<string, Promise<ServiceAccountKey>>();

  const slot = (sa: ServiceAccount) => JSON.stringify([sa.keySecret, sa.email]);

  const read = async (
    sa: ServiceAccount,
    deadline: number,
  ): Promise<ServiceAccountKey> => {
    const name = sa.keySecret!;
    const bytes = await withRetry(
      left => deps.secrets.access(name, Math.min(left, ATTEMPT_TIMEOUT_MS)),
      {deadline, what: 'Secret Manager', now: () => monotonic.now()},
    );
    const key = parseKey(bytes, sa);
    if (entries.size >= MAX_ENTRIES)
      entries.delete(entries.keys().next().value as string);
    entries.set(slot(sa), {key, readAt: clock.now()});
    return key;
  };

  return {
    async get(
      sa: ServiceAccount,
      deadline: number,
    ): Promise<ServiceAccountKey> {
      const name = slot(sa);
      const held = entries.get(name);
      const age = held ? clock.now() - held.readAt : Infinity;
      if (held && age < ttl) return held.key;
      let pending = inflight.get(name);
      if (!pending) {
        // With a key in hand, a slow Secret Manager gets a short budget before the
        // held key serves, so the caller's deadline is left for the mint itself.
        const budget = held
          ? Math.min(deadline, monotonic.now() + STALE_REREAD_BUDGET_MS)
          : deadline;
        pending = read(sa, budget).finally(() => inflight.delete(name));
        inflight.set(name, pending);
      }
      try {
        return await pending;
      } catch (e) {
        if (
          held &&
          age < maxStale &&
          e instanceof TvmError &&
          e.code === 'ERR_UPSTREAM_UNAVAILABLE'
        ) {
          return held.key;
        }
        if (e instanceof TvmError && e.code === 'ERR_UPSTREAM_REFUSED')
          entries.delete(name);
        throw e;
      }
    },
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
