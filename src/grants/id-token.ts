/**
 * ID tokens: what a caller asks for (a service account, the token's audience, and
 * whether it carries the account's email), the policy decision, and the vending step.
 * Both routes use it: the token endpoint (`requested_token_type` = the RFC 8693 ID
 * token type, the audience in RFC 8707's `resource`) and the IAM Credentials-shaped
 * generateIdToken (src/grants/generate-id-token.ts).
 *
 * Default deny, as for access tokens: the client's grant of the account must have an
 * `id_token` block that allows the audience, and the email claim when it is asked
 * for. Every refusal is `invalid_target` (RFC 8707 §2), the caller learning which of
 * the three failed, never what the policy allows.
 */
import type {Audit} from '../audit.ts';
import type {Clock, MonotonicClock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import type {IdTokenMinter} from '../mint/id-token.ts';
import type {CachedToken} from '../mint/token-cache.ts';
import {MAX_AUDIENCE_CHARS, isAudienceText} from '../policy/audience.ts';
import {audienceAllowed} from '../policy/id-token.ts';
import {
  ID_TOKEN_LIFETIME_SECONDS,
  type Client,
  type CompiledPolicy,
  type Grant,
  type ServiceAccount,
} from '../policy/types.ts';
import {callerString} from '../text.ts';
import {findGrant} from './authorize.ts';
import {auditHandOut} from './vend.ts';

/** What the caller asked for. */
export interface IdTokenAsk {
  /** A service-account alias or email. */
  readonly account: string;
  /** The token's `aud`, checked by `checkAudience`. */
  readonly audience: string;
  /** The token should carry the account's email. */
  readonly includeEmail: boolean;
}

/** What the policy allows of an ID-token request. */
export interface IdTokenDecision {
  readonly grant: Grant;
  readonly serviceAccount: ServiceAccount;
  readonly audience: string;
  /** What the token will carry: a key-minted token always carries the email. */
  readonly includeEmail: boolean;
}

/** An ID token handed out. */
export interface VendedIdToken {
  readonly idToken: string;
  /** Epoch ms, on tvm's clock. */
  readonly expiresAt: number;
  readonly expiresIn: number;
}

/** What vending an ID token needs. */
export interface IdTokenVendDeps {
  readonly idTokens: IdTokenMinter;
  readonly clock: Clock;
  readonly monotonic: MonotonicClock;
  readonly mintDeadlineMs: number;
}

/**
 * Checks the audience a caller sent before anything else reads it: a bounded,
 * printable string (a URL, or an IAP OAuth client id). `what` names the parameter.
 */
export function checkAudience(value: string | undefined, what: string): string {
  if (value === undefined || value === '') {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `${what} is required: the audience of the ID token`,
    );
  }
  if (!isAudienceText(value)) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `${what} must be printable ASCII without spaces, at most ${MAX_AUDIENCE_CHARS} characters`,
    );
  }
  return value;
}

/** Notes what was asked in the audit record, before the decision (a denial carries it). */
export function auditIdTokenAsk(audit: Audit, ask: IdTokenAsk): void {
  audit.requestedAccount = callerString(ask.account);
  audit.targetAudience = callerString(ask.audience);
  audit.includeEmail = ask.includeEmail;
}

/** Decides `ask` for `client` under `policy`; throws TvmError on refusal. */
export function authorizeIdToken(
  policy: CompiledPolicy,
  client: Client,
  ask: IdTokenAsk,
): IdTokenDecision {
  const grant = findGrant(policy, client, ask.account);
  const sa = grant.serviceAccount;
  const allowed = grant.idToken;
  if (!allowed) {
    throw new TvmError(
      'ERR_INVALID_TARGET',
      'this client is not granted ID tokens for the requested service account',
      {detail: `the grant of ${sa.alias} has no id_token`},
    );
  }
  if (!audienceAllowed(allowed, ask.audience)) {
    throw new TvmError(
      'ERR_INVALID_TARGET',
      'this client is not granted ID tokens for the requested audience',
      {detail: `audience not in the id_token audiences of ${sa.alias}`},
    );
  }
  if (ask.includeEmail && !allowed.includeEmail) {
    throw new TvmError(
      'ERR_INVALID_TARGET',
      "this client is not granted ID tokens that carry the service account's email: ask without it",
      {detail: `include_email is false for ${sa.alias}`},
    );
  }
  return {
    grant,
    serviceAccount: sa,
    audience: ask.audience,
    includeEmail: sa.mint === 'key' || ask.includeEmail,
  };
}

/**
 * Mints the ID token `decision` allows (or takes it from the cache), recording both in
 * `audit`: at once when the cache holds a usable token, else a promise.
 */
export function vendIdToken(
  deps: IdTokenVendDeps,
  decision: IdTokenDecision,
  audit: Audit,
): VendedIdToken | Promise<VendedIdToken> {
  audit.serviceAccount = decision.serviceAccount.email;
  audit.includeEmail = decision.includeEmail;
  const token = deps.idTokens.mint({
    serviceAccount: decision.serviceAccount,
    audience: decision.audience,
    includeEmail: decision.includeEmail,
    deadline: deps.monotonic.now() + deps.mintDeadlineMs,
  });
  return token instanceof Promise
    ? token.then(t => handOut(deps, audit, t))
    : handOut(deps, audit, token);
}

function handOut(
  deps: IdTokenVendDeps,
  audit: Audit,
  token: CachedToken,
): VendedIdToken {
  return {
    idToken: token.accessToken,
    expiresAt: token.expiresAt,
    expiresIn: auditHandOut(deps.clock, audit, token),
  };
}

/**
 * What a token endpoint request asks of an ID token: the account in `audience` (as
 * for access tokens), the token's audience in `resource` (RFC 8707 §2), and
 * `include_email` (`true` or `false`, default false, as Google's own default).
 * `scope` and `lifetime` do not apply: Google's ID tokens carry no scopes and live an
 * hour.
 */
export function tokenIdTokenAsk(
  params: ReadonlyMap<string, string>,
): IdTokenAsk {
  const account = params.get('audience');
  if (account === undefined) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'audience is required: a service account alias or email',
    );
  }
  if (params.has('scope')) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'scope does not apply to ID tokens: leave it out',
    );
  }
  if (params.has('lifetime')) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `lifetime does not apply to ID tokens: they live ${ID_TOKEN_LIFETIME_SECONDS} seconds`,
    );
  }
  // Delegation and downscoping are for access tokens: an ID token never acts for a
  // user nor carries a boundary, so asking for either is refused, not ignored.
  for (const name of ['subject', 'access_boundary']) {
    if (params.has(name)) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `${name} does not apply to ID tokens: leave it out`,
      );
    }
  }
  const includeEmail = params.get('include_email');
  if (
    includeEmail !== undefined &&
    includeEmail !== 'true' &&
    includeEmail !== 'false'
  ) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'include_email must be true or false',
    );
  }
  return {
    account,
    audience: checkAudience(params.get('resource'), 'resource'),
    includeEmail: includeEmail === 'true',
  };
}
