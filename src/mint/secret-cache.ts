/**
 * Credentials read from Secret Manager (service-account keys for `mint: key`, users'
 * authorized_user credentials for `mint: user`), reused for a bounded time. When a
 * re-read fails with a retryable error, the credential in hand keeps serving until it
 * is too stale; a refusal (disabled, destroyed, permission removed, not a credential)
 * stops it at once: never fall back to anything weaker. Entries are held per slot (the
 * secret and the entry it was read and checked for), so a credential is only ever used
 * for the entry it was checked for, even if a policy reload points another entry at
 * the secret.
 */
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {ATTEMPT_TIMEOUT_MS, withRetry} from '../google/upstream.ts';

/** How long a re-read may take before the credential in hand is used instead. */
const STALE_REREAD_BUDGET_MS = 1_000;
/** Credentials held at most; the oldest goes first. */
const MAX_ENTRIES = 1024;

export interface SecretCacheDeps {
  readonly secrets: SecretReader;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  /** How long a credential read from Secret Manager is reused before it is read again (default 300). */
  readonly ttlSeconds?: number;
  /** A credential that cannot be re-read keeps serving at most this long after it was read (default 3600). */
  readonly maxStaleSeconds?: number;
}

/** Where a credential is and how to check it. */
export interface SecretSlot<T> {
  /** The Secret Manager version name. */
  readonly name: string;
  /** The cache entry: the secret and the policy entry it serves. */
  readonly slot: string;
  /** Parses and checks the payload; throws TvmError (a refusal) when it is not fit. */
  parse(bytes: Buffer): T;
}

export interface SecretCache<T> {
  /** The credential of `at`, read within `deadline` (monotonic ms) when not held fresh. */
  get(at: SecretSlot<T>, deadline: number): Promise<T>;
  /** Forgets the credential of `slot` (Google refused it): the next get reads it again. */
  drop(slot: string): void;
}

interface Entry<T> {
  readonly value: T;
  readonly readAt: number;
}

/** Creates an empty cache. */
export function createSecretCache<T>(deps: SecretCacheDeps): SecretCache<T> {
  const {clock, monotonic} = deps;
  const ttl = (deps.ttlSeconds ?? 300) * 1000;
  const maxStale = (deps.maxStaleSeconds ?? 3600) * 1000;
  const entries = new Map<string, Entry<T>>();
  const inflight = new Map<string, Promise<T>>();

  const read = async (at: SecretSlot<T>, deadline: number): Promise<T> => {
    const bytes = await withRetry(
      left => deps.secrets.access(at.name, Math.min(left, ATTEMPT_TIMEOUT_MS)),
      {deadline, what: 'Secret Manager', now: () => monotonic.now()},
    );
    const value = at.parse(bytes);
    if (entries.size >= MAX_ENTRIES)
      entries.delete(entries.keys().next().value as string);
    entries.set(at.slot, {value, readAt: clock.now()});
    return value;
  };

  return {
    async get(at, deadline) {
      const name = at.slot;
      const held = entries.get(name);
      const age = held ? clock.now() - held.readAt : Infinity;
      if (held && age < ttl) return held.value;
      let pending = inflight.get(name);
      if (!pending) {
        // With a credential in hand, a slow Secret Manager gets a short budget before
        // the held one serves, so the caller's deadline is left for the mint itself.
        const budget = held
          ? Math.min(deadline, monotonic.now() + STALE_REREAD_BUDGET_MS)
          : deadline;
        pending = read(at, budget).finally(() => inflight.delete(name));
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
          return held.value;
        }
        if (e instanceof TvmError && e.code === 'ERR_UPSTREAM_REFUSED')
          entries.delete(name);
        throw e;
      }
    },
    drop(slot) {
      entries.delete(slot);
    },
  };
}
