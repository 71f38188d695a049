/**
 * Users and their consents: a user grants an OAuth client (a desktop app, as gcloud's
 * is) some scopes, which gives the client a refresh token (what `gcloud auth
 * application-default login` saves as an `authorized_user` file). Here lives the
 * registry; the routes that use it (the refresh-token grant, revocation, tokeninfo of
 * a user's token, local mode's consent registration) are in user-grants.ts.
 */
import {randomBytes, randomInt} from 'node:crypto';

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
/** What Google's user access tokens live, seconds. */
export const USER_TOKEN_LIFETIME_S = 3599;
const EMAIL = /^[^@\s/]+@[^@\s/]+\.[^@\s/]+$/;
/** Printable ASCII without spaces, as Google's tokens and secrets are. */
const TOKEN_TEXT = /^[\x21-\x7e]{1,2048}$/;
/** Google's refresh tokens begin `1//`; anything else is not one (`Bad Request`). */
export const REFRESH_TOKEN_SHAPE = /^1\/\/[A-Za-z0-9_-]{20,}$/;
const CLIENT_ID = /^[0-9]{1,20}-[a-z0-9]{1,64}\.apps\.googleusercontent\.com$/;
/** User access tokens are pruned of expired ones once the registry grows past this. */
const PRUNE_THRESHOLD = 10_000;

export interface Consent {
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
