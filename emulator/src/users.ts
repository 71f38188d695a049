/**
 * Users and their consents: a user grants an OAuth client (a desktop app, as gcloud's
 * is) some scopes, which gives the client a refresh token (what `gcloud auth
 * application-default login` saves as an `authorized_user` file). Here live the
 * registry, the token endpoint's refresh-token grant (RFC 6749 §6) with Google's
 * answers and refusals, Google's revocation endpoint, what tokeninfo says of a user's
 * access token, and the one route that is not Google's: local mode registering a
 * consent made elsewhere (`tvm import-user --local`).
 */
import {randomBytes, randomInt} from 'node:crypto';
import type {Context, HttpRequest} from './context.ts';
import {EXPIRED_LIFETIME_S} from './context.ts';
import {apiError, oauthError} from './errors.ts';
import {signJwt} from './keys.ts';
import {json, type Reply} from './reply.ts';
import {GOOGLE_ISSUER} from './tokens.ts';

/** The `authorized_user` file, as gcloud writes it. */
export interface AuthorizedUserFile {
  type: 'authorized_user';
  client_id: string;
  client_secret: string;
  refresh_token: string;
  quota_project_id?: string;
  account: string;
  universe_domain: 'googleapis.com';
}

/** What the emulator knows of a consent. */
export interface ConsentInfo {
  readonly email: string;
  /** The user's Google account id (tokeninfo's `sub`). */
  readonly userId: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly revoked: boolean;
  /** Refresh-token grant requests that named this refresh token, answered or refused. */
  readonly refreshRequests: number;
}

/** The provisioning API of users and consents (`emulator.state.users`). */
export interface UserConsents {
  /** A new OAuth client: its id (`<number>-<id>.apps.googleusercontent.com`) and secret. */
  createOAuthClient(): {clientId: string; clientSecret: string};
  /**
   * The user `email` consents to `scopes` for an OAuth client (a new one unless
   * `clientId` names one; with `clientSecret` too, a client made elsewhere is
   * registered), which gets a refresh token (a new one unless given). Returns the
   * authorized_user file gcloud would write.
   */
  grantConsent(opts: {
    email: string;
    scopes: readonly string[];
    clientId?: string;
    clientSecret?: string;
    refreshToken?: string;
    quotaProjectId?: string;
  }): AuthorizedUserFile;
  /** Revokes a refresh token, as the user removing the app's access does. */
  revoke(refreshToken: string): void;
  /** The consent behind a refresh token. */
  consent(refreshToken: string): ConsentInfo | undefined;
}

/** What Google answers for a refresh token it does not honour. */
export const REVOKED = 'Token has been expired or revoked.';
const USER_TOKEN_LIFETIME_S = 3599;
const EMAIL = /^[^@\s/]+@[^@\s/]+\.[^@\s/]+$/;
/** Printable ASCII without spaces, as Google's tokens and secrets are. */
const TOKEN_TEXT = /^[\x21-\x7e]{1,2048}$/;
/** Google's refresh tokens begin `1//`; anything else is not one (`Bad Request`). */
const REFRESH_TOKEN_SHAPE = /^1\/\/[A-Za-z0-9_-]{20,}$/;
const CLIENT_ID = /^[0-9]{1,20}-[a-z0-9]{1,64}\.apps\.googleusercontent\.com$/;
/** User access tokens are pruned of expired ones once the registry grows past this. */
const PRUNE_THRESHOLD = 10_000;

interface Consent {
  readonly email: string;
  readonly userId: string;
  readonly clientId: string;
  readonly scopes: ReadonlySet<string>;
  revoked: boolean;
  refreshRequests: number;
}

/** The users, OAuth clients and consents of one emulator instance. */
export class Users implements UserConsents {
  readonly #now: () => number;
  /** The account id of a user of the emulated Workspace, if `email` is one. */
  readonly #workspaceId: (email: string) => string | undefined;
  readonly #clients = new Map<string, string>(); // client id -> secret
  readonly #users = new Map<string, string>(); // email -> account id
  readonly #consents = new Map<string, Consent>(); // refresh token -> consent
  readonly #tokens = new Map<string, {consent: Consent; expiresAt: number}>();

  constructor(
    now: () => number,
    workspaceId: (email: string) => string | undefined = () => undefined,
  ) {
    this.#now = now;
    this.#workspaceId = workspaceId;
  }

  createOAuthClient(): {clientId: string; clientSecret: string} {
    const digits = (n: number) =>
      Array.from({length: n}, () => randomInt(10)).join('');
    const id = Array.from(
      {length: 32},
      () => 'abcdefghijklmnopqrstuvwxyz0123456789'[randomInt(36)],
    ).join('');
    const clientId = `${randomInt(1, 10)}${digits(11)}-${id}.apps.googleusercontent.com`;
    const clientSecret = `GOCSPX-${randomBytes(21).toString('base64url')}`;
    this.#clients.set(clientId, clientSecret);
    return {clientId, clientSecret};
  }

  grantConsent(opts: {
    email: string;
    scopes: readonly string[];
    clientId?: string;
    clientSecret?: string;
    refreshToken?: string;
    quotaProjectId?: string;
  }): AuthorizedUserFile {
    if (!EMAIL.test(opts.email)) throw new TypeError('invalid user email');
    if (opts.scopes.length === 0 || opts.scopes.some(s => !/^\S+$/.test(s))) {
      throw new TypeError('scopes must be non-empty, without spaces');
    }
    const client = this.#client(opts.clientId, opts.clientSecret);
    const refreshToken =
      opts.refreshToken ?? `1//0e${randomBytes(72).toString('base64url')}`;
    if (!TOKEN_TEXT.test(refreshToken)) {
      throw new TypeError('a refresh token is printable ASCII without spaces');
    }
    const existing = this.#consents.get(refreshToken);
    if (existing !== undefined) {
      // The same consent registered again (an import run twice) is the same consent.
      if (
        existing.email !== opts.email ||
        existing.clientId !== client.clientId ||
        existing.revoked
      ) {
        throw new TypeError('that refresh token is already registered');
      }
      this.#consents.delete(refreshToken);
    }
    // One person, one account id: a Workspace user's own (delegation's `sub`), else
    // one made for the address on first consent.
    let userId = this.#workspaceId(opts.email) ?? this.#users.get(opts.email);
    if (userId === undefined) {
      userId = `1${Array.from({length: 20}, () => randomInt(10)).join('')}`;
      this.#users.set(opts.email, userId);
    }
    this.#consents.set(refreshToken, {
      email: opts.email,
      userId,
      clientId: client.clientId,
      scopes: new Set(opts.scopes),
      revoked: false,
      refreshRequests: 0,
    });
    return {
      account: '',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      ...(opts.quotaProjectId === undefined
        ? {}
        : {quota_project_id: opts.quotaProjectId}),
      refresh_token: refreshToken,
      type: 'authorized_user',
      universe_domain: 'googleapis.com',
    };
  }

  revoke(refreshToken: string): void {
    const consent = this.#consents.get(refreshToken);
    if (consent === undefined) throw new TypeError('unknown refresh token');
    consent.revoked = true;
  }

  consent(refreshToken: string): ConsentInfo | undefined {
    const c = this.#consents.get(refreshToken);
    if (c === undefined) return undefined;
    return Object.freeze({
      email: c.email,
      userId: c.userId,
      clientId: c.clientId,
      scopes: Object.freeze([...c.scopes]),
      revoked: c.revoked,
      refreshRequests: c.refreshRequests,
    });
  }

  // ---- used by the surfaces ----

  /** The client secret of an OAuth client, if the client exists. */
  clientSecret(clientId: string): string | undefined {
    return this.#clients.get(clientId);
  }

  /** The consent behind a refresh token (revoked or not), counting the request. */
  consentForRefresh(refreshToken: string): Consent | undefined {
    const c = this.#consents.get(refreshToken);
    if (c) c.refreshRequests += 1;
    return c;
  }

  /** Remembers an access token issued under `consent`. */
  noteToken(token: string, consent: Consent, expiresAt: number): void {
    if (this.#tokens.size > PRUNE_THRESHOLD) {
      const now = this.#now();
      for (const [t, r] of this.#tokens) {
        if (r.expiresAt <= now) this.#tokens.delete(t);
      }
    }
    this.#tokens.set(token, {consent, expiresAt});
  }

  /** The consent an access token was issued under; undefined for other tokens. */
  tokenConsent(token: string): Consent | undefined {
    return this.#tokens.get(token)?.consent;
  }

  /** Revokes the consent behind a refresh token or one of its access tokens. */
  revokeToken(token: string): boolean {
    const consent = this.#consents.get(token) ?? this.tokenConsent(token);
    if (consent === undefined || consent.revoked) return false;
    consent.revoked = true;
    return true;
  }

  #client(
    clientId: string | undefined,
    clientSecret: string | undefined,
  ): {clientId: string; clientSecret: string} {
    if (clientId === undefined) return this.createOAuthClient();
    if (!CLIENT_ID.test(clientId))
      throw new TypeError('invalid OAuth client id');
    const known = this.#clients.get(clientId);
    if (clientSecret === undefined) {
      if (known === undefined) throw new TypeError('unknown OAuth client');
      return {clientId, clientSecret: known};
    }
    if (!TOKEN_TEXT.test(clientSecret)) {
      throw new TypeError('a client secret is printable ASCII without spaces');
    }
    if (known !== undefined && known !== clientSecret) {
      throw new TypeError('the OAuth client exists with another secret');
    }
    this.#clients.set(clientId, clientSecret);
    return {clientId, clientSecret};
  }
}

/**
 * The refresh-token grant: the client authenticates with its id and secret (in the
 * body, or HTTP Basic), the refresh token must be live and the client's, and `scope`,
 * when sent, must be a subset of the consent (RFC 6749 §6); the token carries exactly
 * the scopes asked (all of the consent when none are). Google's refusals, in the order
 * they are checked.
 */
export async function handleRefreshGrant(
  form: URLSearchParams,
  req: HttpRequest,
  ctx: Context,
  expired: boolean,
): Promise<Reply> {
  const users = ctx.state.users;
  const basic = basicCredentials(req.headers.authorization);
  const clientId = form.get('client_id') ?? basic?.id;
  const clientSecret = form.get('client_secret') ?? basic?.secret;
  if (!clientId) {
    return oauthError(
      400,
      'invalid_request',
      'Could not determine client ID from request.',
    );
  }
  const known = users.clientSecret(clientId);
  if (known === undefined) {
    return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
  }
  if (!clientSecret) {
    return oauthError(400, 'invalid_request', 'client_secret is missing.');
  }
  if (clientSecret !== known) {
    return oauthError(401, 'invalid_client', 'Unauthorized');
  }
  const refreshToken = form.get('refresh_token');
  if (!refreshToken) {
    return oauthError(
      400,
      'invalid_request',
      'Missing required parameter: refresh_token',
    );
  }
  const consent = users.consentForRefresh(refreshToken);
  if (consent === undefined && !REFRESH_TOKEN_SHAPE.test(refreshToken)) {
    return oauthError(400, 'invalid_grant', 'Bad Request');
  }
  if (consent === undefined || consent.revoked) {
    return oauthError(400, 'invalid_grant', REVOKED);
  }
  if (consent.clientId !== clientId) {
    return oauthError(400, 'unauthorized_client', 'Unauthorized');
  }
  const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
  if (asked.some(s => !consent.scopes.has(s))) {
    return oauthError(400, 'invalid_scope', 'Bad Request');
  }
  const scopes = asked.length > 0 ? [...new Set(asked)] : [...consent.scopes];
  const lifetime = expired ? EXPIRED_LIFETIME_S : USER_TOKEN_LIFETIME_S;
  const {token, record} = ctx.state.tokens.issue(
    consent.email,
    scopes,
    lifetime * 1000,
    {clientId: consent.clientId},
  );
  users.noteToken(token, consent, record.expiresAt);
  const body: Record<string, unknown> = {
    access_token: token,
    expires_in: lifetime,
    scope: scopes.join(' '),
    token_type: 'Bearer',
  };
  if (scopes.includes('openid')) {
    body.id_token = await userIdToken(ctx, consent, scopes, lifetime);
  }
  return json(200, body);
}

/** An OpenID Connect ID token of the user for the client (`openid` was asked). */
function userIdToken(
  ctx: Context,
  consent: Consent,
  scopes: readonly string[],
  lifetime: number,
): Promise<string> {
  const iat = Math.floor(ctx.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: GOOGLE_ISSUER,
    azp: consent.clientId,
    aud: consent.clientId,
    sub: consent.userId,
    iat: lifetime < 0 ? iat + lifetime - 3600 : iat,
    exp: iat + (lifetime < 0 ? lifetime : 3600),
  };
  if (hasEmailScope(scopes)) {
    claims.email = consent.email;
    claims.email_verified = true;
  }
  return signJwt(claims, ctx.googleKey);
}

/** Whether the scopes let the client see the user's email. */
function hasEmailScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) {
    if (s === 'email' || s === 'https://www.googleapis.com/auth/userinfo.email')
      return true;
  }
  return false;
}

/**
 * tokeninfo of a user's access token: `azp`/`aud` are the OAuth client, `sub` the
 * user's account id, `access_type` offline (it came from a refresh token); `email`
 * only when the token carries an email scope; invalid once the consent is revoked.
 * Undefined for any other token.
 */
export function userTokenInfo(
  token: string,
  ctx: Context,
  exp: number,
  nowS: number,
): Reply | undefined {
  const consent = ctx.state.users.tokenConsent(token);
  const record = ctx.state.tokens.get(token);
  if (consent === undefined || record === undefined) return undefined;
  // Revoking the consent ends its access tokens too, as at Google.
  if (consent.revoked) return oauthError(400, 'invalid_token', 'Invalid Value');
  return json(200, {
    azp: consent.clientId,
    aud: consent.clientId,
    sub: consent.userId,
    scope: record.scopes.join(' '),
    exp: String(exp),
    expires_in: String(Math.max(0, exp - nowS)),
    ...(hasEmailScope(record.scopes)
      ? {email: consent.email, email_verified: 'true'}
      : {}),
    access_type: 'offline',
  });
}

/**
 * Google's revocation endpoint (`POST /revoke`, `token` in the form or the query): a
 * refresh token, or an access token issued under a consent, ends the consent.
 */
export async function handleRevoke(
  req: HttpRequest,
  ctx: Context,
): Promise<Reply> {
  if (req.method !== 'POST') {
    return oauthError(405, 'invalid_request', 'Method not allowed');
  }
  const token =
    new URLSearchParams(req.body).get('token') ?? req.query.get('token');
  if (!token) {
    return oauthError(
      400,
      'invalid_request',
      'Missing required parameter: token',
    );
  }
  if (!ctx.state.users.revokeToken(token)) {
    return oauthError(400, 'invalid_token', 'Token expired or revoked');
  }
  return json(200, {});
}

/**
 * Not Google's: `POST /emulator/v1/userConsents` registers a consent made elsewhere
 * (local mode's `tvm import-user --local`): JSON `{email, scopes, client_id,
 * client_secret, refresh_token, quota_project_id?, secret?}`; `secret` names a secret
 * the emulator's default identity (tvm's runtime account in local mode) may then read,
 * as the Terraform module grants in production.
 */
export async function handleConsentRegistration(
  req: HttpRequest,
  ctx: Context,
): Promise<Reply> {
  if (req.method !== 'POST') return apiError(405, 'Method not allowed.');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(req.body) as Record<string, unknown>;
  } catch {
    return apiError(400, 'Invalid JSON payload received.');
  }
  const str = (k: string) =>
    typeof body?.[k] === 'string' ? (body[k] as string) : undefined;
  const scopes = body?.scopes;
  if (
    !Array.isArray(scopes) ||
    !scopes.every((s): s is string => typeof s === 'string')
  ) {
    return apiError(400, 'scopes must be a list of strings.');
  }
  try {
    const secret = str('secret');
    const runtime = ctx.state.defaultIdentity();
    if (secret !== undefined && runtime !== undefined) {
      ctx.state.grantSecretAccessor(`serviceAccount:${runtime.email}`, secret);
    }
    const file = ctx.state.users.grantConsent({
      email: str('email') ?? '',
      scopes,
      clientId: str('client_id') ?? '',
      clientSecret: str('client_secret') ?? '',
      refreshToken: str('refresh_token') ?? '',
      quotaProjectId: str('quota_project_id'),
    });
    const consent = ctx.state.users.consent(file.refresh_token)!;
    return json(200, {email: consent.email, userId: consent.userId});
  } catch (e) {
    return apiError(400, e instanceof TypeError ? e.message : 'Bad request.');
  }
}

/** `Authorization: Basic` client credentials (RFC 6749 §2.3.1), if sent. */
function basicCredentials(
  header: string | string[] | undefined,
): {id: string; secret: string} | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(value ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return {id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1))};
}
