/**
 * User tokens (`mint: user`): the user's authorized_user credential is read from Secret
 * Manager (held like a key, src/mint/secret-cache.ts) and refreshed at Google's token
 * endpoint for exactly the scopes decided (RFC 6749 §6). Tokens go through the same
 * cache as every other token, keyed by (user entry, credential, scopes, lifetime), with
 * the same invariant; Google's user tokens always live an hour.
 *
 * A credential Google refuses (`invalid_grant`: the refresh token expired or was
 * revoked; `invalid_client`/`unauthorized_client`: the OAuth client is gone) is an
 * operator's problem no retry fixes: tvm says so in one log line, answers 502, and does
 * not ask Google again for that credential until a pause has passed (`invalid_scope`:
 * for those scopes), so a burst of callers cannot turn into a burst at Google. The
 * refused credential is dropped, so the attempt after the pause reads Secret Manager
 * again and picks up a newly imported version.
 */
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {
  parseAuthorizedUser,
  type AuthorizedUser,
} from '../google/authorized-user.ts';
import type {SecretReader} from '../google/secret-manager.ts';
import {UpstreamError, refused} from '../google/upstream.ts';
import {RefreshRefused, refreshUserToken} from '../google/user-refresh.ts';
import type {Logger} from '../log.ts';
import {
  USER_TOKEN_LIFETIME_SECONDS,
  type ServiceAccount,
} from '../policy/types.ts';
import {
  capped,
  retried,
  throughCache,
  type MintRequest,
  type Minter,
} from './through-cache.ts';
import {createSecretCache, type SecretSlot} from './secret-cache.ts';
import type {TokenCache} from './token-cache.ts';

/** How long a credential Google refused is not offered to Google again, by default. */
export const DEFAULT_REFUSAL_PAUSE_SECONDS = 60;
/** Refusals remembered at most (one per credential, or per credential and scopes). */
const MAX_REFUSALS = 1024;

export interface UserMinterDeps {
  readonly secrets: SecretReader;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  readonly oauth2TokenUrl: string;
  readonly tokenCache: TokenCache;
  /** Where the one operator line per refused credential goes. */
  readonly logger: Logger | undefined;
  /** How long a credential read from Secret Manager is reused (default 300 s). */
  readonly credentialTtlSeconds?: number;
  /** A credential that cannot be re-read keeps serving at most this long (default 3600 s). */
  readonly credentialMaxStaleSeconds?: number;
  /** How long a refusal by Google is remembered (default DEFAULT_REFUSAL_PAUSE_SECONDS). */
  readonly refusalPauseSeconds?: number;
}

/** A refusal remembered: what the caller is told until `until` (monotonic ms). */
interface Refusal {
  readonly until: number;
  readonly detail: string;
}

/** Creates the minter of `mint: user` entries. */
export function createUserMinter(deps: UserMinterDeps): Minter {
  const {clock, monotonic, tokenCache: cache} = deps;
  const credentials = createSecretCache<AuthorizedUser>({
    secrets: deps.secrets,
    clock,
    monotonic,
    ttlSeconds: deps.credentialTtlSeconds,
    maxStaleSeconds: deps.credentialMaxStaleSeconds,
  });
  const pauseMs =
    (deps.refusalPauseSeconds ?? DEFAULT_REFUSAL_PAUSE_SECONDS) * 1000;
  const refusals = new Map<string, Refusal>();
  const now = () => monotonic.now();

  /** The refusal remembered under `key`, while it lasts. */
  const recall = (key: string): Refusal | undefined => {
    const r = refusals.get(key);
    if (r && r.until > now()) return r;
    if (r) refusals.delete(key);
    return undefined;
  };

  const refusedError = (r: Refusal): TvmError =>
    new TvmError(
      'ERR_USER_CREDENTIAL_REFUSED',
      "Google refused the user's stored credential; the operator has been told",
      {
        detail: r.detail,
        retryAfterSeconds: Math.max(1, Math.ceil((r.until - now()) / 1000)),
        reported: true,
      },
    );

  /** Remembers Google's refusal under `key` and tells the operator, once per pause. */
  const remember = (
    key: string,
    sa: ServiceAccount,
    e: RefreshRefused,
    scopes: readonly string[],
  ): Refusal => {
    const known = recall(key);
    if (known) return known; // a concurrent mint for other scopes saw it first
    const user = sa.user!;
    const what = e.credentialRefused
      ? `Google refused the credential of user ${sa.alias} (${sa.email}) in ${user.credentialSecret}: ${e.error}`
      : `Google refused to refresh user ${sa.alias} (${sa.email}) for ${scopes.join(' ')}: ${e.error}`;
    const r: Refusal = {
      until: now() + pauseMs,
      detail: `${what}; not asked again for ${Math.round(pauseMs / 1000)}s`,
    };
    if (refusals.size >= MAX_REFUSALS)
      refusals.delete(refusals.keys().next().value as string);
    refusals.set(key, r);
    deps.logger?.error(
      {
        user: {
          alias: sa.alias,
          email: sa.email,
          credentialSecret: user.credentialSecret,
        },
        error: {
          code: 'ERR_USER_CREDENTIAL_REFUSED',
          google: e.error,
          googleStatus: e.status,
          description: e.description,
        },
      },
      e.credentialRefused
        ? `user credential refused by Google (${e.error}): import a new one with tvm import-user and point credential_secret at it; tvm asks Google again in ${Math.round(pauseMs / 1000)}s`
        : `user scopes refused by Google (${e.error}): consented_scopes of ${sa.alias} says more than the user consented to; tvm asks Google again in ${Math.round(pauseMs / 1000)}s`,
    );
    return r;
  };

  const slotOf = (sa: ServiceAccount): SecretSlot<AuthorizedUser> => ({
    name: sa.user!.credentialSecret,
    slot: JSON.stringify([sa.user!.credentialSecret, sa.email]),
    parse: bytes => parseCredential(bytes, sa),
  });

  // Refreshes of one credential, one at a time: after a pause ends (or on a cold
  // start), callers asking for different scope sets must not each find out from Google
  // that the credential is refused. Each waits for the refresh before it, then checks
  // the pause again. Refreshes are rare (a token is cached for most of its hour).
  const inFlight = new Map<string, Promise<unknown>>();
  const oneAtATime = <T>(slot: string, run: () => Promise<T>): Promise<T> => {
    const start = () => {
      const paused = recall(slot);
      if (paused) throw refusedError(paused);
      return run();
    };
    const before = inFlight.get(slot);
    const mine = (before ?? Promise.resolve()).then(start);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    inFlight.set(slot, settled);
    void settled.then(() => {
      if (inFlight.get(slot) === settled) inFlight.delete(slot);
    });
    return mine;
  };

  const issue = (req: MintRequest, scopeKey: string, lifetime: number) =>
    oneAtATime(slotOf(req.serviceAccount).slot, () =>
      refresh(req, scopeKey, lifetime),
    );

  const refresh = async (
    req: MintRequest,
    scopeKey: string,
    lifetime: number,
  ) => {
    const sa = req.serviceAccount;
    const at = slotOf(sa);
    try {
      // Never report (or cache) more than the lifetime decided, whatever Google said.
      return await capped(clock, lifetime, () =>
        retried(
          req.deadline,
          'OAuth 2.0 token endpoint',
          now,
          async timeoutMs => {
            const credential = await credentials.get(at, req.deadline);
            return refreshUserToken(
              credential,
              req.scopes,
              deps.oauth2TokenUrl,
              clock,
              timeoutMs,
            );
          },
        ),
      );
    } catch (e) {
      const cause = e instanceof TvmError ? e.cause : undefined;
      if (!(cause instanceof RefreshRefused)) throw e;
      if (cause.credentialRefused) credentials.drop(at.slot);
      throw refusedError(
        remember(
          cause.credentialRefused ? at.slot : scopeKey,
          sa,
          cause,
          req.scopes,
        ),
      );
    }
  };

  return {
    mint(req) {
      const sa = req.serviceAccount;
      const lifetime = USER_TOKEN_LIFETIME_SECONDS;
      const key = JSON.stringify([
        'user',
        sa.email,
        sa.user!.credentialSecret,
        lifetime,
        req.scopes,
      ]);
      return throughCache(
        cache,
        now,
        {key, lifetimeSeconds: lifetime, deadline: req.deadline},
        () => issue(req, key, lifetime),
        () => {
          // A credential (or these scopes of it) Google refused a moment ago: not
          // again yet.
          const paused = recall(slotOf(sa).slot) ?? recall(key);
          if (paused) throw refusedError(paused);
        },
      );
    },
  };
}

/** The stored credential, checked with the parser `tvm import-user` used. */
function parseCredential(bytes: Buffer, sa: ServiceAccount): AuthorizedUser {
  const secret = sa.user!.credentialSecret;
  const r = parseAuthorizedUser(bytes.toString('utf8'));
  if (!r.ok) {
    throw refused(
      new UpstreamError(
        `secret ${secret} does not hold an authorized_user credential (${r.problems.join('; ')})`,
        false,
      ),
    );
  }
  return r.value;
}
