/**
 * The step every grant shares once it has decided: the token is minted (or taken from
 * the cache) within the request's deadline, and the decision and a fingerprint of the
 * token are noted in the audit record.
 */
import type {Audit} from '../audit.ts';
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import type {Minter} from '../mint/minter.ts';
import type {CachedToken} from '../mint/token-cache.ts';
import type {Decision} from './authorize.ts';

/** Time a request may spend minting, well inside the platform's own timeout. */
export const DEFAULT_MINT_DEADLINE_MS = 15_000;

/** A token handed out. */
export interface Vended {
  readonly accessToken: string;
  /** Epoch ms, on tvm's clock. */
  readonly expiresAt: number;
  readonly expiresIn: number;
  readonly scopes: readonly string[];
}

export interface VendDeps {
  readonly minter: Minter;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  /** Time a request may spend minting. */
  readonly mintDeadlineMs: number;
}

/**
 * Mints the token `decision` allows, recording both in `audit`: at once when the cache
 * holds a usable token, else a promise. Throws (or rejects with) TvmError.
 */
export function vend(
  deps: VendDeps,
  decision: Decision,
  audit: Audit,
): Vended | Promise<Vended> {
  audit.serviceAccount = decision.serviceAccount.email;
  audit.scopes = decision.scopes;
  audit.lifetimeSeconds = decision.lifetimeSeconds;
  const token = deps.minter.mint({
    serviceAccount: decision.serviceAccount,
    scopes: decision.scopes,
    lifetimeSeconds: decision.lifetimeSeconds,
    deadline: deps.monotonic.now() + deps.mintDeadlineMs,
  });
  return token instanceof Promise
    ? token.then(t => handOut(deps, decision, audit, t))
    : handOut(deps, decision, audit, token);
}

function handOut(
  deps: VendDeps,
  decision: Decision,
  audit: Audit,
  token: CachedToken,
): Vended {
  const expiresIn = Math.floor((token.expiresAt - deps.clock.now()) / 1000);
  if (expiresIn <= 0) {
    throw new TvmError(
      'ERR_UPSTREAM_UNAVAILABLE',
      'Google is temporarily unavailable; retry later',
      {
        detail: 'token expired before it could be handed out',
        retryAfterSeconds: 1,
      },
    );
  }
  audit.tokenSha256 = token.tokenSha256 ?? fingerprint(token.accessToken);
  audit.cached = token.cached;
  audit.expiresIn = expiresIn;
  return {
    accessToken: token.accessToken,
    expiresAt: token.expiresAt,
    expiresIn,
    scopes: decision.scopes,
  };
}
