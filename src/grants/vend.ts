/**
 * The step every grant shares once it has decided: the token is minted (or taken from
 * the cache) within the request's deadline — delegated to a user or downscoped to a
 * boundary when the decision says so — and the decision and a fingerprint of the
 * token are noted in the audit record.
 */
import type {Audit} from '../audit.ts';
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import type {DelegatedMinter} from '../mint/delegation.ts';
import type {Downscoper} from '../mint/downscope.ts';
import type {Minter, MintRequest} from '../mint/minter.ts';
import {callerString} from '../text.ts';
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
  /** Domain-wide delegation (src/mint/delegation.ts); without it, none is vended. */
  readonly delegatedMinter?: DelegatedMinter;
  /** Downscoping at STS (src/mint/downscope.ts); without it, none is vended. */
  readonly downscoper?: Downscoper;
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
  const request = {
    serviceAccount: decision.serviceAccount,
    scopes: decision.scopes,
    lifetimeSeconds: decision.lifetimeSeconds,
    deadline: deps.monotonic.now() + deps.mintDeadlineMs,
  };
  // The plain token: the hot path, with no promise when the cache has it.
  const token =
    decision.delegation === undefined && decision.boundary === undefined
      ? deps.minter.mint(request)
      : mintNarrowed(deps, decision, request, audit);
  return token instanceof Promise
    ? token.then(t => handOut(deps, decision, audit, t))
    : handOut(deps, decision, audit, token);
}

/**
 * A delegated token, a downscoped one, or both (a user's token downscoped), recorded
 * in the audit: the user, and the boundary's fingerprint, resources and origin.
 */
function mintNarrowed(
  deps: VendDeps,
  decision: Decision,
  request: MintRequest,
  audit: Audit,
): CachedToken | Promise<CachedToken> {
  const subject = decision.delegation?.subject;
  if (subject !== undefined) audit.delegatedSubject = callerString(subject);
  const source =
    subject === undefined
      ? () => deps.minter.mint(request)
      : () => need(deps.delegatedMinter).mint({...request, subject});
  const boundary = decision.boundary;
  if (boundary === undefined) return source();
  audit.accessBoundary = {
    sha256: boundary.boundary.sha256.slice(0, 16),
    requested: boundary.requested,
    resources: [...new Set(boundary.boundary.rules.map(r => r.resource))],
  };
  return need(deps.downscoper).downscope({
    sourceKey: JSON.stringify([
      request.serviceAccount.mint,
      request.serviceAccount.email,
      // The secret the source token is made from: a key's, or a user's credential.
      request.serviceAccount.keySecret ??
        request.serviceAccount.user?.credentialSecret ??
        '',
      request.lifetimeSeconds,
      request.scopes,
      subject ?? '',
    ]),
    lifetimeSeconds: request.lifetimeSeconds,
    boundary: boundary.boundary,
    deadline: request.deadline,
    source,
  });
}

function need<T>(dep: T | undefined): T {
  if (dep === undefined) throw new Error('tvm was built without this minter');
  return dep;
}

function handOut(
  deps: VendDeps,
  decision: Decision,
  audit: Audit,
  token: CachedToken,
): Vended {
  const expiresIn = auditHandOut(deps.clock, audit, token);
  return {
    accessToken: token.accessToken,
    expiresAt: token.expiresAt,
    expiresIn,
    scopes: decision.scopes,
  };
}

/**
 * Notes `token` in `audit` (its fingerprint, whether it came from the cache, its time
 * left) and answers its seconds left; a token with none left is a 503, never handed
 * out. Shared by every kind of token vended.
 */
export function auditHandOut(
  clock: Clock,
  audit: Audit,
  token: CachedToken,
): number {
  const expiresIn = Math.floor((token.expiresAt - clock.now()) / 1000);
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
  return expiresIn;
}
