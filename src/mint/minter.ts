/**
 * Minting: turns an authorised decision into a Google access token, keylessly through
 * the IAM Credentials API or with a key held in Secret Manager, through the token
 * cache. Every upstream call runs inside the caller's deadline.
 */
import type {AuthClient} from 'google-auth-library';
import {z} from 'zod';
import type {Clock} from '../clock.ts';
import {fingerprint} from '../fingerprint.ts';
import {TvmError} from '../errors.ts';
import {
  generateAccessToken,
  type IssuedToken,
} from '../google/iam-credentials.ts';
import {jwtBearerToken, type ServiceAccountKey} from '../google/oauth2.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {
  UpstreamError,
  monotonicNow,
  refused,
  unavailable,
  withRetry,
  within,
} from '../google/upstream.ts';
import {
  KEY_MINTED_LIFETIME_SECONDS,
  type ServiceAccount,
} from '../policy/types.ts';
import {
  createTokenCache,
  type CachedToken,
  type TokenCache,
} from './token-cache.ts';

export interface MintRequest {
  readonly serviceAccount: ServiceAccount;
  /** Full scope URLs, sorted and de-duplicated. */
  readonly scopes: readonly string[];
  /** The lifetime the caller is entitled to and asked for. */
  readonly lifetimeSeconds: number;
  /** Monotonic ms (`monotonicNow()`) by which minting must be over. */
  readonly deadline: number;
}

/** Mints (or reuses) tokens. */
export interface Minter {
  mint(req: MintRequest): Promise<CachedToken>;
}

export interface MinterDeps {
  /** The function's own identity, resolved on first use. */
  readonly identity: () => Promise<AuthClient>;
  readonly secrets: SecretReader;
  readonly clock: Clock;
  readonly iamCredentialsEndpoint: string;
  readonly oauth2TokenUrl: string;
  readonly tokenCache?: TokenCache;
  /** How long a key read from Secret Manager is reused before it is read again. */
  readonly keyTtlSeconds?: number;
  /** A key that cannot be re-read keeps serving at most this long after it was read. */
  readonly keyMaxStaleSeconds?: number;
}

/** Longest single upstream attempt; several fit in a caller's deadline. */
const ATTEMPT_TIMEOUT_MS = 5_000;
/** How long a re-read of a key may take before the key in hand is used instead. */
const STALE_REREAD_BUDGET_MS = 1_000;

const KeyFile = z.object({
  type: z.literal('service_account'),
  client_email: z.string().min(3).max(320),
  private_key: z.string().startsWith('-----BEGIN PRIVATE KEY-----').max(16_384),
  private_key_id: z.string().max(128).optional(),
});

/** Creates the Minter used by the token endpoint. */
export function createMinter(deps: MinterDeps): Minter {
  const {clock} = deps;
  const cache = deps.tokenCache ?? createTokenCache({clock});
  const keys = createKeyCache(deps);

  const issue = (req: MintRequest): Promise<IssuedToken> => {
    const sa = req.serviceAccount;
    if (sa.mint === 'impersonate') {
      return withRetry(
        async left =>
          generateAccessToken(
            await deps.identity(),
            deps.iamCredentialsEndpoint,
            clock,
            {
              email: sa.email,
              scopes: req.scopes,
              lifetimeSeconds: req.lifetimeSeconds,
              timeoutMs: Math.min(left, ATTEMPT_TIMEOUT_MS),
            },
          ),
        {deadline: req.deadline, what: 'IAM Credentials'},
      );
    }
    return withRetry(
      async left => {
        const key = await keys.get(sa, req.deadline);
        return jwtBearerToken(
          key,
          req.scopes,
          deps.oauth2TokenUrl,
          clock,
          Math.min(left, ATTEMPT_TIMEOUT_MS),
        );
      },
      {deadline: req.deadline, what: 'OAuth 2.0 token endpoint'},
    );
  };

  return {
    mint(req) {
      // Key-minted tokens always live an hour, whatever was asked.
      const lifetime =
        req.serviceAccount.mint === 'key'
          ? KEY_MINTED_LIFETIME_SECONDS
          : req.lifetimeSeconds;
      const key = cacheKey(req.serviceAccount, req.scopes, lifetime);
      // The hot path: a usable cached token, handed out without a timer or a promise race.
      const cached = cache.peek(key, lifetime);
      if (cached) return Promise.resolve(cached);
      const minted = cache.get(key, lifetime, async () => {
        const asked = clock.now();
        const t = await issue(req);
        // Google stamps the expiry with its own clock; never report (or cache) more
        // than the lifetime asked for, so skew cannot stretch a token past the grant.
        return {
          ...t,
          expiresAt: Math.min(t.expiresAt, asked + lifetime * 1000),
        };
      });
      // A caller that joined a mint already in flight waits no longer than its own
      // deadline either.
      return within(minted, req.deadline - monotonicNow(), 'mint').catch(
        (e: unknown) => {
          throw e instanceof UpstreamError ? unavailable(e) : e;
        },
      );
    },
  };
}

/** (service account, scopes, lifetime class) as one opaque string. */
function cacheKey(
  sa: ServiceAccount,
  scopes: readonly string[],
  lifetime: number,
): string {
  return JSON.stringify([
    sa.mint,
    sa.email,
    sa.keySecret ?? '',
    lifetime,
    scopes,
  ]);
}

interface KeyEntry {
  readonly key: ServiceAccountKey;
  readonly readAt: number;
}

/**
 * Keys read from Secret Manager, reused for a bounded time. When a re-read fails with
 * a retryable error, the key in hand keeps serving until it is too stale; a refusal
 * (disabled, destroyed, permission removed) stops it at once: never fall back to
 * anything weaker.
 */
function createKeyCache(deps: MinterDeps) {
  const {clock} = deps;
  const ttl = (deps.keyTtlSeconds ?? 300) * 1000;
  const maxStale = (deps.keyMaxStaleSeconds ?? 3600) * 1000;
  const entries = new Map<string, KeyEntry>();
  const inflight = new Map<string, Promise<ServiceAccountKey>>();
  const MAX_ENTRIES = 1024;

  // Keyed by secret AND account: a key is only ever used for the account it was read
  // (and checked) for, even if a policy reload points another account at the secret.
  const slot = (sa: ServiceAccount) => JSON.stringify([sa.keySecret, sa.email]);

  const read = async (
    sa: ServiceAccount,
    deadline: number,
  ): Promise<ServiceAccountKey> => {
    const name = sa.keySecret!;
    const bytes = await withRetry(
      left => deps.secrets.access(name, Math.min(left, ATTEMPT_TIMEOUT_MS)),
      {deadline, what: 'Secret Manager'},
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
          ? Math.min(deadline, monotonicNow() + STALE_REREAD_BUDGET_MS)
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
  if (parsed.data.client_email.toLowerCase() !== sa.email) {
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
