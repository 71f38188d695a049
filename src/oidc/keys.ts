/**
 * Where verification keys come from, per trust: a JWK Set pinned in the policy, a JWKS
 * URL named in the policy, or the `jwks_uri` of the issuer's discovery document
 * (OpenID Connect Discovery 1.0 §4). Remote sets are jose's `createRemoteJWKSet`, one
 * per URL (keys are never pooled across issuers), fetched through `fetchBounded`
 * (timeout, size cap, no redirects), cached for `cacheMaxAgeMs`, and re-fetched on an
 * unknown `kid` at most once per `cooldownMs`. When the cache has expired and the
 * issuer cannot be reached, verification fails closed: jose does not fall back to
 * stale keys.
 *
 * Upstream failures are not amplified (issue 10, item 3). Every discovery document and
 * every JWKS URL is fetched through one FetchGate (src/oidc/fetch.ts): at most one
 * fetch of a URL in flight, shared by all who wait for it, and after a failure (network,
 * timeout, redirect, size, a status other than 200, a body that is not a discovery
 * document or a JWK Set) the URL is not fetched again for a backoff of `cooldownMs`,
 * doubling per consecutive failure up to FAILURE_BACKOFF_FACTOR × `cooldownMs`
 * (defaults: 30 s, then 60, 120, at most 2 min); meanwhile callers get the remembered
 * failure (503) at once. The bound: a flood of requests for one broken issuer makes at
 * most 2 outbound fetches (its discovery document and its JWKS) per `cooldownMs`, and
 * once the failure persists at most 2 per 4 × `cooldownMs`; concurrency adds none.
 */

import {
  createRemoteJWKSet,
  customFetch,
  type CryptoKey,
  type JWTVerifyGetKey,
} from 'jose';
import * as z from '../zod.ts';
import type {Clock} from '../clock.ts';
import type {KeySource} from '../policy/types.ts';
import {parseHttpsUrl} from '../policy/url.ts';
import {KeysUnavailable} from '../errors.ts';
import type {UnverifiedJwt} from './jws.ts';
import {
  createFetchGate,
  DEFAULT_FETCH_BOUNDS,
  fetchBounded,
  FetchRefused,
  type FetchBounds,
  type FetchLike,
} from './fetch.ts';

export interface KeyResolverOptions {
  readonly fetch: FetchLike;
  readonly clock: Clock;
  readonly bounds?: FetchBounds;
  /** How long fetched keys and discovery documents are used (default 10 min). */
  readonly cacheMaxAgeMs?: number;
  /**
   * Shortest time between two fetches of one JWKS on an unknown kid, and the first
   * backoff after a failed fetch of a discovery document or JWKS (default 30 s).
   */
  readonly cooldownMs?: number;
}

/**
 * What jose verifies a JWT with: its key-selection function, or (for a pinned set,
 * once jose has chosen) the key itself.
 */
export type VerificationKey = JWTVerifyGetKey | CryptoKey;

/** Resolves a trust's key source to what jose verifies a given JWT with. */
export interface KeyResolver {
  /**
   * What verifies `jwt` (its header, not yet verified) under `source`; `issuer` is
   * needed for discovery. At once (no promise) unless the issuer's discovery document
   * must be fetched first; then rejects with KeysUnavailable when it cannot be
   * fetched or is wrong.
   */
  keyFor(
    source: KeySource,
    jwt: UnverifiedJwt,
    issuer?: string,
  ): VerificationKey | Promise<VerificationKey>;
}

/** Most remote key sets and discovery results kept (one per issuer or partner). */
const MAX_CACHED = 1000;

/** The longest backoff of a failing URL, in cooldowns. */
const FAILURE_BACKOFF_FACTOR = 4;

const jwksSchema = z.looseObject({keys: z.array(z.unknown())});

const discoverySchema = z.looseObject({
  issuer: z.string(),
  jwks_uri: z.string(),
});

/** Builds the resolver; one per service, shared across policy reloads. */
export function createKeyResolver(options: KeyResolverOptions): KeyResolver {
  const bounds = options.bounds ?? DEFAULT_FETCH_BOUNDS;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? 10 * 60_000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const remote = new Map<string, JWTVerifyGetKey>();
  const discovered = new Map<string, {jwksUri: string; at: number}>();
  const gate = createFetchGate({
    now: () => options.clock.now(),
    backoffMs: cooldownMs,
    maxBackoffMs: FAILURE_BACKOFF_FACTOR * cooldownMs,
  });

  // jose's fetch: through the gate, and only a JWK Set counts as a success. Each
  // caller gets a Response of its own over the shared bytes.
  const boundedForJose = async (
    url: string | URL,
    init?: RequestInit,
  ): Promise<Response> => {
    const uri = String(url);
    const body = await gate.run(`jwks ${uri}`, () => fetchJwks(uri, init));
    return new Response(body, {
      status: 200,
      headers: {'content-type': 'application/json'},
    });
  };

  async function fetchJwks(uri: string, init?: RequestInit): Promise<string> {
    let res: Response;
    try {
      // Not the caller's abort signal: the fetch is shared by every waiting caller.
      res = await fetchBounded(options.fetch, uri, bounds, {
        headers: init?.headers,
      });
    } catch (e) {
      throw new KeysUnavailable(
        `JWKS ${uri}: ${e instanceof Error ? e.message : 'failed'}`,
        {cause: e},
      );
    }
    if (res.status !== 200) {
      throw new KeysUnavailable(`JWKS ${uri}: HTTP ${res.status}`);
    }
    const text = await res.text();
    try {
      jwksSchema.parse(JSON.parse(text));
    } catch {
      throw new KeysUnavailable(`JWKS ${uri}: not a JWK Set`);
    }
    return text;
  }

  function remoteSet(uri: string): JWTVerifyGetKey {
    let set = remote.get(uri);
    if (!set) {
      if (remote.size >= MAX_CACHED) remote.clear();
      set = createRemoteJWKSet(new URL(uri), {
        timeoutDuration: bounds.timeoutMs,
        cooldownDuration: cooldownMs,
        cacheMaxAge: cacheMaxAgeMs,
        [customFetch]: boundedForJose,
      });
      remote.set(uri, set);
    }
    return set;
  }

  /** The issuer's `jwks_uri`: at once while the discovery result is fresh. */
  function discover(issuer: string): string | Promise<string> {
    const hit = discovered.get(issuer);
    if (hit && options.clock.now() - hit.at < cacheMaxAgeMs) return hit.jwksUri;
    return rediscover(issuer, hit);
  }

  async function rediscover(
    issuer: string,
    hit: {jwksUri: string} | undefined,
  ): Promise<string> {
    try {
      const jwksUri = await gate.run(`discovery ${issuer}`, () =>
        fetchDiscovery(issuer),
      );
      if (!discovered.has(issuer) && discovered.size >= MAX_CACHED) {
        discovered.clear();
      }
      discovered.set(issuer, {jwksUri, at: options.clock.now()});
      return jwksUri;
    } catch (e) {
      // Keep serving a known jwks_uri rather than none: it came from this issuer. The
      // gate asks for the document again once its backoff has passed.
      if (hit) return hit.jwksUri;
      throw e instanceof KeysUnavailable
        ? e
        : new KeysUnavailable(`discovery for ${issuer}: failed`, {cause: e});
    }
  }

  async function fetchDiscovery(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let res: Response;
    try {
      res = await fetchBounded(options.fetch, url, bounds, {
        headers: {accept: 'application/json'},
      });
    } catch (e) {
      const why = e instanceof FetchRefused ? e.message : 'failed';
      throw new KeysUnavailable(`discovery ${url}: ${why}`, {cause: e});
    }
    if (res.status !== 200) {
      throw new KeysUnavailable(`discovery ${url}: HTTP ${res.status}`);
    }
    let doc: z.output<typeof discoverySchema>;
    try {
      doc = discoverySchema.parse(await res.json());
    } catch {
      throw new KeysUnavailable(`discovery ${url}: not a discovery document`);
    }
    // OpenID Connect Discovery §4.3: the document's issuer must be the one asked for.
    if (doc.issuer !== issuer) {
      throw new KeysUnavailable(
        `discovery ${url}: names issuer ${JSON.stringify(doc.issuer.slice(0, 200))}`,
      );
    }
    const jwksUri = parseHttpsUrl(doc.jwks_uri, true);
    if (!jwksUri.ok) {
      throw new KeysUnavailable(
        `discovery ${url}: jwks_uri ${jwksUri.message}`,
      );
    }
    return jwksUri.value;
  }

  // Pinned sets, each with the keys jose has chosen from it (pinnedKeys).
  const pinned = new WeakMap<KeySource, PinnedKeys>();

  return {
    keyFor(source, jwt, issuer) {
      switch (source.kind) {
        case 'static': {
          let keys = pinned.get(source);
          if (!keys) pinned.set(source, (keys = pinnedKeys(source.getKey)));
          return keys.keyFor(jwt.header);
        }
        case 'jwks_uri':
          return remoteSet(source.jwksUri);
        case 'discovery': {
          if (issuer === undefined) {
            throw new TypeError('keyFor: discovery needs the issuer');
          }
          const jwksUri = discover(issuer);
          return typeof jwksUri === 'string'
            ? remoteSet(jwksUri)
            : jwksUri.then(remoteSet);
        }
      }
    },
  };
}

interface PinnedKeys {
  keyFor(header: UnverifiedJwt['header']): VerificationKey;
}

/**
 * The keys of a pinned set as jose chose them, by the `alg` and `kid` of the JWT
 * header. jose's key selection is async and makes several promises for each JWT;
 * once it has chosen the key for an alg and kid, JWTs with the same alg and kid are
 * handed that key itself, and jose verifies with it (checking the alg against the
 * trust's list and the key's type, as always). A pinned set does
 * not change while the policy holds, so its choice for an alg and kid cannot either.
 * Only jose's choices are kept, and jose chooses only a key of the set with that kid
 * (or none named), so whatever JWTs arrive this holds at most (keys + 1) × algorithms
 * entries, of public keys only; refusals are never kept.
 */
function pinnedKeys(getKey: JWTVerifyGetKey): PinnedKeys {
  const chosen = new Map<string, CryptoKey>();
  const choose: JWTVerifyGetKey = (header, token) =>
    Promise.resolve(getKey(header, token)).then(key => {
      if (
        key instanceof globalThis.CryptoKey &&
        typeof header.alg === 'string'
      ) {
        chosen.set(choiceOf(header.alg, header.kid), key);
      }
      return key;
    });
  return {
    keyFor(header) {
      const alg = header.alg;
      const key =
        typeof alg === 'string'
          ? chosen.get(choiceOf(alg, header.kid))
          : undefined;
      return key ?? choose;
    },
  };
}

/**
 * The map key of an alg and kid: the kid (none: empty), a newline, the alg. A kid
 * never holds a newline (src/oidc/jws.ts), so no two pairs share a key.
 */
function choiceOf(alg: string, kid: unknown): string {
  return `${typeof kid === 'string' ? kid : ''}\n${alg}`;
}
