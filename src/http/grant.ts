/**
 * What every token route shares once the caller is known: the policy in force, the
 * decision (authorize) and the token (minter), each noted in the audit record.
 */
import {authorize, type AccessRequest} from '../authorize.ts';
import type {Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import {monotonicNow} from '../google/upstream.ts';
import type {Minter} from '../mint/minter.ts';
import type {PolicySource} from '../policy-source.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import type {Audit} from './audit-trail.ts';

/** Time a request may spend minting, well inside the platform's own timeout. */
export const DEFAULT_MINT_DEADLINE_MS = 15_000;

export interface Granted {
  readonly accessToken: string;
  /** Epoch ms, on tvm's clock. */
  readonly expiresAt: number;
  readonly expiresIn: number;
  readonly scopes: readonly string[];
}

export interface GrantDeps {
  readonly policies: PolicySource;
  readonly minter: Minter;
  readonly clock: Clock;
  readonly mintDeadlineMs: number | undefined;
}

/** The policy in force, waiting for the first load; 503 when there is none. */
export async function policyInForce(
  policies: PolicySource,
): Promise<CompiledPolicy> {
  await policies.ready();
  const policy = policies.current();
  if (!policy) {
    throw new TvmError(
      'ERR_POLICY_UNAVAILABLE',
      'the service has no valid policy; retry later',
      {
        retryAfterSeconds: 30,
        detail: policies.status().reason,
      },
    );
  }
  return policy;
}

/** Decides `request` for `client` and mints the token, recording both in `audit`. */
export async function grantAndMint(
  deps: GrantDeps,
  policy: CompiledPolicy,
  client: Client,
  audit: Audit,
  request: AccessRequest,
): Promise<Granted> {
  const decision = authorize(policy, client, request);
  audit.serviceAccount = decision.serviceAccount.email;
  audit.scopes = decision.scopes;
  audit.lifetimeSeconds = decision.lifetimeSeconds;
  const token = await deps.minter.mint({
    serviceAccount: decision.serviceAccount,
    scopes: decision.scopes,
    lifetimeSeconds: decision.lifetimeSeconds,
    deadline:
      monotonicNow() + (deps.mintDeadlineMs ?? DEFAULT_MINT_DEADLINE_MS),
  });
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
  audit.tokenSha256 = fingerprint(token.accessToken);
  audit.cached = token.cached;
  audit.expiresIn = expiresIn;
  return {
    accessToken: token.accessToken,
    expiresAt: token.expiresAt,
    expiresIn,
    scopes: decision.scopes,
  };
}
