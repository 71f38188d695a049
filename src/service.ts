/**
 * Wiring: builds every part of tvm from its configuration, once, at start. The
 * dependencies are plain parameters so tests build the same service around the local
 * emulator, a frozen clock or a captured logger.
 */
import {gcpMetadata, type AuthClient} from 'google-auth-library';
import {createAuditTrail} from './audit.ts';
import {createAuthenticate} from './auth/authenticate.ts';
import {
  systemClock,
  systemMonotonicClock,
  type Clock,
  type MonotonicClock,
} from './clock.ts';
import type {Config} from './config.ts';
import {createIdentity, useNodeFetch} from './google/identity.ts';
import {
  createSecretReader,
  type SecretReader,
} from './google/secret-manager.ts';
import {DEFAULT_MINT_DEADLINE_MS} from './grants/vend.ts';
import {createApp, type App} from './http/app.ts';
import {
  createRateLimiters,
  type RateLimitStoreFactory,
} from './http/rate-limit.ts';
import {createLogger, type Logger} from './log.ts';
import {
  createMemoryReplayStore,
  type ReplayStore,
} from './auth/replay-store.ts';
import type {FetchBounds, FetchLike} from './oidc/fetch.ts';
import {createKeyResolver} from './oidc/keys.ts';
import {createDelegatedMinter} from './mint/delegation.ts';
import {createDownscoper} from './mint/downscope.ts';
import {createMinter} from './mint/minter.ts';
import {createIdTokenMinter} from './mint/id-token.ts';
import {createKeyCache} from './mint/key-cache.ts';
import {createTokenCache, type TokenCache} from './mint/token-cache.ts';
import type {SharedStore} from './store/index.ts';
import {createPolicySource, type PolicySource} from './policy-source.ts';
import {parsePolicy} from './policy/index.ts';

export interface ServiceOptions {
  readonly clock?: Clock;
  /** Durations and deadlines (default: the process's monotonic clock). */
  readonly monotonic?: MonotonicClock;
  readonly logger?: Logger;
  readonly rateLimitStore?: RateLimitStoreFactory;
  readonly tokenCache?: TokenCache;
  /** Time a request may spend minting (default DEFAULT_MINT_DEADLINE_MS). */
  readonly mintDeadlineMs?: number;
  /**
   * How OIDC discovery documents and JWK Sets are fetched (default: the global
   * fetch). Tests serve fake issuers on loopback behind it.
   */
  readonly fetch?: FetchLike;
  /** Bounds and cache of those fetches (defaults in src/oidc/). */
  readonly oidc?: {
    readonly bounds?: FetchBounds;
    readonly cacheMaxAgeMs?: number;
    readonly cooldownMs?: number;
  };
  /** Where used client-assertion ids are remembered (default: in memory). */
  readonly replayStore?: ReplayStore;
}

export interface Service {
  /** The request listener that serves tvm (src/http/app.ts). */
  readonly app: App;
  readonly policies: PolicySource;
  readonly tokenCache: TokenCache;
  /** The shared store, when TVM_REDIS_URL is set. */
  readonly store: SharedStore | undefined;
  /** Stops timers and closes upstream connections. */
  close(): Promise<void>;
}

/**
 * Builds the service from a configuration parseConfig (src/config.ts) accepted. Async
 * only to load the shared store's module when the configuration asks for one.
 */
export async function createService(
  config: Config,
  options: ServiceOptions = {},
): Promise<Service> {
  const clock = options.clock ?? systemClock;
  const monotonic = options.monotonic ?? systemMonotonicClock;
  const logger = options.logger ?? createLogger(config.logLevel);

  // The identity resolves lazily: no I/O at start, so a cold start is only the load.
  let identity: Promise<AuthClient> | undefined;
  const getIdentity = () => (identity ??= createIdentity(config));
  let secrets: SecretReader | undefined;
  const getSecrets = () =>
    (secrets ??= createSecretReader(config.secretManagerEndpoint, getIdentity));

  // The shared store (docs/shared-store.md): optional; without it every instance keeps
  // its own rate limits, replay guard and token cache, as a single instance does.
  const shared = config.redis ? await import('./store/index.ts') : undefined;
  const store =
    config.redis &&
    shared?.createSharedStore({
      location: config.redis,
      ca: config.redisCa,
      authSecret: config.redisAuthSecret,
      cacheKey: config.cacheKey,
      cacheKeySecret: config.cacheKeySecret,
      timeoutMs: config.redisTimeoutMs,
      secrets: getSecrets,
      logger,
    });
  const tokenCache =
    options.tokenCache ??
    (store && shared
      ? shared.createSharedTokenCache({
          local: createTokenCache({clock}),
          store,
          clock,
          monotonic,
          logger,
        })
      : createTokenCache({clock}));
  // One key cache for every minter: a key read for an access token serves ID tokens
  // and delegated tokens too.
  const accountKeys = createKeyCache({
    secrets: lazySecretReader(getSecrets),
    clock,
    monotonic,
  });
  const minter = createMinter({
    identity: getIdentity,
    secrets: lazySecretReader(getSecrets),
    clock,
    monotonic,
    iamCredentialsEndpoint: config.iamCredentialsEndpoint,
    oauth2TokenUrl: config.oauth2TokenUrl,
    tokenCache,
    keys: accountKeys,
    logger,
  });
  const idTokens = createIdTokenMinter({
    identity: getIdentity,
    keys: accountKeys,
    clock,
    monotonic,
    iamCredentialsEndpoint: config.iamCredentialsEndpoint,
    oauth2TokenUrl: config.oauth2TokenUrl,
    tokenCache,
  });
  const delegatedMinter = createDelegatedMinter({
    identity: getIdentity,
    keys: accountKeys,
    clock,
    monotonic,
    iamCredentialsEndpoint: config.iamCredentialsEndpoint,
    oauth2TokenUrl: config.oauth2TokenUrl,
    tokenCache,
  });
  const downscoper = createDownscoper({
    clock,
    monotonic,
    stsEndpoint: config.stsEndpoint,
    tokenCache,
  });
  const policies = createPolicySource({
    source: config.policySource,
    parse: parsePolicy,
    secrets: getSecrets,
    clock,
    logger,
    refreshSeconds: config.policyRefreshSeconds,
  });
  // With the shared store, a policy change one instance sees reaches the others fast.
  const signal = store && shared?.startPolicySignal({store, policies, logger});
  // The project, for trace ids in logs: as configured (the Terraform module sets it),
  // else asked of the metadata server once, best effort.
  let projectId = config.project;
  if (!projectId && (config.metadataHost || config.onPlatform)) {
    useNodeFetch();
    gcpMetadata.project('project-id').then(
      (p: unknown) => {
        if (typeof p === 'string') projectId = p;
      },
      () => undefined,
    );
  }
  // Keys of OIDC issuers and assertion signers outlive policy reloads: one resolver.
  const keys = createKeyResolver({
    fetch: options.fetch ?? globalThis.fetch,
    clock,
    ...options.oidc,
  });
  const app = createApp({
    policies,
    authenticate: createAuthenticate({
      issuer: config.issuer,
      clock,
      keys,
      replay:
        options.replayStore ??
        (store && shared
          ? shared.createSharedReplayStore({store, clock, logger})
          : createMemoryReplayStore({clock})),
    }),
    limiters: createRateLimiters({
      perIp: config.rateLimitPerIp,
      perClient: config.rateLimitPerClient,
      store:
        options.rateLimitStore ??
        (store && shared
          ? shared.sharedRateLimitStores(store, logger)
          : undefined),
      clock,
    }),
    trail: createAuditTrail({logger, monotonic, projectId: () => projectId}),
    minter,
    idTokens,
    delegatedMinter,
    downscoper,
    clock,
    monotonic,
    mintDeadlineMs: options.mintDeadlineMs ?? DEFAULT_MINT_DEADLINE_MS,
    trustedProxyHops: config.trustedProxyHops,
  });
  return {
    app,
    policies,
    tokenCache,
    store,
    async close() {
      policies.close();
      signal?.close();
      await store?.close();
      await secrets?.close();
    },
  };
}

function lazySecretReader(get: () => SecretReader): SecretReader {
  return {
    access: (name, timeoutMs) => get().access(name, timeoutMs),
    close: async () => undefined,
  };
}
