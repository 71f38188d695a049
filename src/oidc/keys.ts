/**
 * Where verification keys come from, per trust: a JWK Set pinned in the policy, a JWKS
 * URL named in the policy, or the `jwks_uri` of the issuer's discovery document
 * (OpenID Connect Discovery 1.0 §4). Remote sets are jose's `createRemoteJWKSet`, one
 * per URL (keys are never pooled across issuers), fetched through `fetchBounded`
 * (timeout, size cap, no redirects), cached for `cacheMaxAgeMs`, and re-fetched on an
 * unknown `kid` at most once per `cooldownMs`. When the cache has expired and the
 * issuer cannot be reached, verification fails closed: jose does not fall back to
 * stale keys.
 */

import {createRemoteJWKSet, customFetch, type JWTVerifyGetKey} from 'jose';
import {z} from 'zod';
import type {Clock} from '../clock.ts';
import type {KeySource} from '../policy/types.ts';
import {parseHttpsUrl} from '../policy/url.ts';
import {KeysUnavailable} from './errors.ts';
import {
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
  /** Shortest time between two fetches of one JWKS on an unknown kid (default 30 s). */
  readonly cooldownMs?: number;
}

/** Resolves a trust's key source to jose's key-selection function. */
export interface KeyResolver {
  /**
   * The key function for `source`; `issuer` is needed for discovery. Throws
   * KeysUnavailable when the discovery document cannot be fetched or is wrong.
   */
  keysFor(source: KeySource, issuer?: string): Promise<JWTVerifyGetKey>;
}

/** Most remote key sets and discovery results kept (one per issuer or partner). */
const MAX_CACHED = 1000;

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
  const discovered = new Map<
    string,
    {jwksUri?: string; error?: KeysUnavailable; at: number}
  >();

  const boundedForJose = async (
    url: string | URL,
    init?: RequestInit,
  ): Promise<Response> => {
    try {
      return await fetchBounded(options.fetch, String(url), bounds, init);
    } catch (e) {
      throw new KeysUnavailable(
        `JWKS ${String(url)}: ${e instanceof Error ? e.message : 'failed'}`,
        {cause: e},
      );
    }
  };

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

  async function discover(issuer: string): Promise<string> {
    const now = options.clock.now();
    const hit = discovered.get(issuer);
    if (hit?.jwksUri && now - hit.at < cacheMaxAgeMs) return hit.jwksUri;
    // A failed discovery is not retried before the cooldown: a flood of tokens naming
    // an unreachable issuer costs one fetch, not one per request.
    if (hit?.error && now - hit.at < cooldownMs) throw hit.error;
    try {
      const jwksUri = await fetchDiscovery(issuer);
      if (discovered.size >= MAX_CACHED) discovered.clear();
      discovered.set(issuer, {jwksUri, at: now});
      return jwksUri;
    } catch (e) {
      const error =
        e instanceof KeysUnavailable
          ? e
          : new KeysUnavailable(`discovery for ${issuer}: failed`, {cause: e});
      // Keep serving a known jwks_uri rather than none: it came from this issuer. It
      // is asked again only after the cooldown, not on every request meanwhile.
      if (hit?.jwksUri) {
        discovered.set(issuer, {
          jwksUri: hit.jwksUri,
          at: now - cacheMaxAgeMs + cooldownMs,
        });
        return hit.jwksUri;
      }
      discovered.set(issuer, {error, at: now});
      throw error;
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

  return {
    async keysFor(source, issuer) {
      switch (source.kind) {
        case 'static':
          return source.getKey;
        case 'jwks_uri':
          return remoteSet(source.jwksUri);
        case 'discovery':
          if (issuer === undefined) {
            throw new TypeError('keysFor: discovery needs the issuer');
          }
          return remoteSet(await discover(issuer));
      }
    },
  };
}
