/**
 * OIDC test support: fake issuers on loopback (discovery + JWKS, keys generated in the
 * test, rotation and faults), a "fake DNS" fetch that sends https://<name>.test to
 * them (and refuses everything else: no network), forging helpers for the threat
 * catalogue, and a stack like stack.ts's whose service gets that fetch.
 */
import {createHmac, randomUUID} from 'node:crypto';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import type {Clock} from '../../src/clock.ts';
import type {FetchLike} from '../../src/oidc/fetch.ts';
import type {ServiceOptions} from '../../src/service.ts';
import {rememberSecret, startStack, type Stack} from './stack.ts';

/** A clock the test moves, on a whole second (JWT times are seconds). */
export function testClock(): Clock & {set(ms: number): void; t: number} {
  const c = {
    t: Math.floor(Date.now() / 1000) * 1000,
    now: () => c.t,
    set: (ms: number) => {
      c.t = ms;
    },
  };
  return c;
}

export interface IssuerKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export type IssuerMode = 'ok' | 'down' | 'redirect' | 'huge' | 'hang';

/** A fake OIDC issuer served on loopback, named `origin` (https://<name>.test). */
export interface TestIssuer {
  readonly origin: string;
  readonly loopback: string;
  /** Keys published in the JWKS, in order. */
  readonly keys: IssuerKey[];
  mode: IssuerMode;
  /** The discovery document's `issuer` (default: origin). */
  discoveryIssuer: string;
  readonly hits: {discovery: number; jwks: number};
  addKey(alg?: 'RS256' | 'ES256' | 'PS256', kid?: string): Promise<IssuerKey>;
  removeKey(kid: string): void;
  /** A JWT signed by `key` (default: the first key) with iss = origin unless given. */
  sign(
    claims: JWTPayload,
    options?: {key?: IssuerKey; header?: Record<string, unknown>},
  ): Promise<string>;
  jwks(): {keys: JWK[]};
  close(): Promise<void>;
}

/** Starts an issuer with one RS256 key. */
export async function startIssuer(origin: string): Promise<TestIssuer> {
  const keys: IssuerKey[] = [];
  const hang: import('node:http').ServerResponse[] = [];
  const issuer: TestIssuer = {
    origin,
    loopback: '',
    keys,
    mode: 'ok',
    discoveryIssuer: origin,
    hits: {discovery: 0, jwks: 0},
    async addKey(alg = 'RS256', kid = `${alg.toLowerCase()}-${randomUUID()}`) {
      const {privateKey, publicKey} = await generateKeyPair(alg, {
        extractable: true,
      });
      const publicJwk = {...(await exportJWK(publicKey)), kid, alg, use: 'sig'};
      const k = {kid, alg, privateKey, publicJwk};
      keys.push(k);
      return k;
    },
    removeKey(kid) {
      const i = keys.findIndex(k => k.kid === kid);
      if (i >= 0) keys.splice(i, 1);
    },
    async sign(claims, options = {}) {
      const key = options.key ?? keys[0]!;
      const jwt = await new SignJWT({iss: origin, ...claims})
        .setProtectedHeader({
          alg: key.alg,
          kid: key.kid,
          typ: 'JWT',
          ...options.header,
        })
        .sign(key.privateKey);
      rememberSecret(jwt);
      return jwt;
    },
    jwks: () => ({keys: keys.map(k => k.publicJwk)}),
    async close() {
      for (const r of hang) r.destroy();
      server.closeAllConnections();
      await new Promise<void>(r => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/.well-known/openid-configuration') issuer.hits.discovery++;
    else if (path === '/jwks') issuer.hits.jwks++;
    if (issuer.mode === 'hang') {
      hang.push(res);
      return;
    }
    if (issuer.mode === 'down') {
      res.writeHead(503).end('down');
      return;
    }
    if (issuer.mode === 'redirect') {
      res.writeHead(302, {location: 'https://evil.test/jwks'}).end();
      return;
    }
    if (path === '/.well-known/openid-configuration') {
      json(res, {
        issuer: issuer.discoveryIssuer,
        jwks_uri: `${origin}/jwks`,
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      });
    } else if (path === '/jwks') {
      if (issuer.mode === 'huge') {
        json(res, {
          keys: issuer.jwks().keys,
          padding: 'x'.repeat(1024 * 1024),
        });
      } else json(res, issuer.jwks());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const {port} = server.address() as AddressInfo;
  (issuer as {loopback: string}).loopback = `http://127.0.0.1:${port}`;
  await issuer.addKey('RS256');
  return issuer;
}

function json(res: import('node:http').ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, {'content-type': 'application/json'}).end(text);
}

/**
 * A fetch that resolves `https://<name>.test` to the loopback server registered for
 * it, records every URL asked for, and refuses any other host.
 */
export function fakeDns(
  routes: Record<string, string>,
): FetchLike & {asked: string[]} {
  const asked: string[] = [];
  const f = async (input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    asked.push(url.href);
    const target = routes[url.origin];
    if (!target) throw new TypeError(`fakeDns: no route to ${url.origin}`);
    return fetch(`${target}${url.pathname}${url.search}`, init);
  };
  return Object.assign(f, {asked});
}

const b64 = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString(
    'base64url',
  );

/** An unsigned JWT with the given header alg (`none`, `NoNe`, ...). */
export function unsignedJwt(alg: string, claims: JWTPayload): string {
  return `${b64({alg, typ: 'JWT'})}.${b64(claims)}.`;
}

/** The key-confusion forgery: HS256 with the issuer's public key as the HMAC secret. */
export function hmacWithPublicKey(
  publicJwk: JWK,
  claims: JWTPayload,
  secretForm: 'jwk' | 'n' = 'jwk',
): string {
  const head = `${b64({alg: 'HS256', typ: 'JWT', kid: publicJwk.kid})}.${b64(claims)}`;
  const secret =
    secretForm === 'jwk' ? JSON.stringify(publicJwk) : String(publicJwk.n);
  const sig = createHmac('sha256', secret).update(head).digest('base64url');
  return `${head}.${sig}`;
}

/** Replaces the signature segment of `jwt`. */
export function withSignature(jwt: string, sig: string): string {
  const [h, p] = jwt.split('.');
  return `${h}.${p}.${sig}`;
}

/** Replaces the header of a signed JWT (the signature no longer matches). */
export function withHeader(
  jwt: string,
  header: Record<string, unknown>,
): string {
  const [, p, s] = jwt.split('.');
  return `${b64(header)}.${p}.${s}`;
}

export interface OidcStackOptions {
  readonly policy: string;
  readonly keys?: Record<string, string>;
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly fetch: FetchLike;
  readonly oidc?: ServiceOptions['oidc'];
}

/** stack.ts's startStack, with the service's fetch and OIDC cache settings given. */
export function startOidcStack(options: OidcStackOptions): Promise<Stack> {
  return startStack({
    policy: options.policy,
    keys: options.keys,
    clock: options.clock,
    env: {TVM_RATE_LIMIT_PER_IP: '100000', ...options.env},
    service: {fetch: options.fetch, oidc: options.oidc},
  });
}

/** The last audit line's `audit` object. */
export function lastAudit(s: Stack): Record<string, unknown> {
  return s.audits().at(-1)!.audit as Record<string, unknown>;
}

/**
 * A stand-in for a Google API on loopback: `GET /v1/whoami` answers the caller's
 * service-account email after checking its bearer token with the emulator's tokeninfo
 * (as a Google API would with its own token validation); 401 otherwise.
 */
export async function startFakeGoogleApi(
  tokeninfoUrl: string,
): Promise<{url: string; calls: number; close(): Promise<void>}> {
  const api = {url: '', calls: 0, close: async () => undefined};
  const server = createServer((req, res) => {
    void (async () => {
      api.calls++;
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m || req.url !== '/v1/whoami') {
        res.writeHead(401, {'content-type': 'application/json'});
        res.end(
          JSON.stringify({error: {code: 401, status: 'UNAUTHENTICATED'}}),
        );
        return;
      }
      const info = await fetch(tokeninfoUrl, {
        headers: {authorization: `Bearer ${m[1]}`},
      });
      const body = (await info.json()) as {email?: string; scope?: string};
      if (info.status !== 200) {
        res.writeHead(401, {'content-type': 'application/json'});
        res.end(
          JSON.stringify({error: {code: 401, status: 'UNAUTHENTICATED'}}),
        );
        return;
      }
      res.writeHead(200, {'content-type': 'application/json'});
      res.end(JSON.stringify({email: body.email, scope: body.scope}));
    })();
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const {port} = server.address() as AddressInfo;
  api.url = `http://127.0.0.1:${port}`;
  api.close = async () => {
    server.closeAllConnections();
    await new Promise<void>(r => server.close(() => r()));
  };
  return api;
}
