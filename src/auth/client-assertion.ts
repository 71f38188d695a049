/**
 * private_key_jwt client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core
 * §9): the client signs a short JWT with its own key; tvm verifies it with the public
 * keys the policy names for that client.
 *
 * - `iss` = `sub` = the client id (and `client_id`, when sent, the same);
 * - `aud` = this deployment's issuer identifier `TVM_ISSUER`, or its token endpoint
 *   `<TVM_ISSUER>/token`, as a single string (draft-ietf-oauth-rfc7523bis: an array
 *   would let an assertion made for another server be replayed here). Without
 *   `TVM_ISSUER` no assertion can be checked, and none is accepted;
 * - `exp` required and at most MAX_ASSERTION_TTL_SECONDS ahead;
 * - `jti` required and accepted once while the assertion could be valid.
 *
 * An unknown client and a bad signature get the same description, so the answer does
 * not say which client ids exist; checks after the signature explain themselves.
 */

import type {JWTPayload} from 'jose';
import type {Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {JwtRejected, KeysUnavailable} from '../errors.ts';
import {inspectJwt} from '../oidc/jws.ts';
import {shown} from '../text.ts';
import type {KeyResolver, VerificationKey} from '../oidc/keys.ts';
import {BEFORE_SIGNATURE, LEEWAY_SECONDS, verifyJwt} from '../oidc/verify.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {ReplayStoreFull, type ReplayStore} from './replay-store.ts';

/** Refusals of an assertion that come before its signature is verified. */
const BEFORE_ASSERTION_SIGNATURE: ReadonlySet<string> = new Set([
  ...BEFORE_SIGNATURE,
  'malformed',
]);

/** Longest an assertion may live from now: RFC 7523 asks for short-lived JWTs. */
export const MAX_ASSERTION_TTL_SECONDS = 300;

export interface AssertionDeps {
  /** TVM_ISSUER; undefined: assertions are refused. */
  readonly issuer: string | undefined;
  readonly keys: KeyResolver;
  readonly replay: ReplayStore;
  readonly clock: Clock;
}

/**
 * The client that signed `assertion`. Refusals are TvmError invalid_client (also when
 * its keys cannot be fetched), or 503 when the replay guard cannot record it: thrown
 * at once when the assertion is refused before any key is used, else a rejection.
 * Written without async functions, so that the common case (pinned keys, the
 * in-memory replay guard) makes no promise beyond jose's and one `then`.
 */
export function authenticateAssertion(
  policy: CompiledPolicy,
  claimedClientId: string | undefined,
  assertion: string,
  deps: AssertionDeps,
): Promise<Client> {
  try {
    return check(policy, claimedClientId, assertion, deps);
  } catch (e) {
    throw asTvmError(e);
  }
}

function check(
  policy: CompiledPolicy,
  claimedClientId: string | undefined,
  assertion: string,
  deps: AssertionDeps,
): Promise<Client> {
  if (deps.issuer === undefined) {
    throw new JwtRejected(
      'no_issuer',
      'client assertions are not accepted by this deployment',
      'TVM_ISSUER is unset: client assertions cannot be checked',
    );
  }
  const audience = deps.issuer;
  const jwt = inspectJwt(assertion);
  const claimed = jwt.payload;
  if (typeof claimed.iss !== 'string' || claimed.iss !== claimed.sub) {
    throw new JwtRejected(
      'iss_sub',
      'the assertion iss and sub must both be the client_id',
    );
  }
  const clientId = claimed.iss;
  if (claimedClientId !== undefined && claimedClientId !== clientId) {
    throw new JwtRejected(
      'client_id_mismatch',
      'client_id differs from the assertion iss',
    );
  }
  const client = policy.clients.get(clientId);
  const trust = client?.privateKeyJwt;
  if (!client || !trust) {
    throw new JwtRejected(
      'unknown_client',
      'client authentication failed',
      client ? 'client has no private_key_jwt' : 'unknown client',
    );
  }
  const verify = (key: VerificationKey): Promise<Client> =>
    verifyJwt(jwt, {
      key,
      algorithms: trust.algorithms,
      issuer: clientId,
      subject: clientId,
      requiredClaims: ['exp', 'jti'],
      clock: deps.clock,
    }).then(
      payload => {
        try {
          const fresh = afterSignature(payload, clientId, audience, deps);
          return typeof fresh === 'boolean'
            ? notReplayed(fresh, client)
            : fresh.then(f => notReplayed(f, client)).catch(rethrownAsTvmError);
        } catch (e) {
          throw asTvmError(e);
        }
      },
      (e: unknown) => {
        throw asTvmError(hiddenBeforeSignature(e));
      },
    );
  const key = deps.keys.keyFor(trust.keys, jwt);
  return key instanceof Promise
    ? key.then(verify, rethrownAsTvmError)
    : verify(key);
}

/**
 * Until the signature is verified, the answer must not depend on whether the client
 * exists (an alg this client does not allow would otherwise say it does).
 */
function hiddenBeforeSignature(e: unknown): unknown {
  if (e instanceof JwtRejected && BEFORE_ASSERTION_SIGNATURE.has(e.reason)) {
    return new JwtRejected(e.reason, 'client authentication failed', e.message);
  }
  return e;
}

/**
 * The checks of a verified assertion: its audience, its life, its `jti`, which the
 * replay guard then records (at once for the in-memory guard). Answers whether the
 * `jti` is fresh.
 */
function afterSignature(
  payload: JWTPayload,
  clientId: string,
  audience: string,
  deps: AssertionDeps,
): boolean | Promise<boolean> {
  if (
    typeof payload.aud !== 'string' ||
    (payload.aud !== audience && payload.aud !== `${audience}/token`)
  ) {
    throw new JwtRejected(
      'bad_aud',
      `the assertion aud must be the single string ${shown(audience)} (or ${shown(`${audience}/token`)})`,
    );
  }
  const now = deps.clock.now() / 1000;
  const exp = payload.exp!;
  if (exp > now + MAX_ASSERTION_TTL_SECONDS) {
    throw new JwtRejected(
      'exp_too_far',
      `the assertion lives too long: exp must be at most ${MAX_ASSERTION_TTL_SECONDS}s ahead`,
    );
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) {
    throw new JwtRejected(
      'bad_jti',
      'the assertion jti must be 1 to 256 characters',
    );
  }
  return deps.replay.remember(
    `${clientId}\n${jti}`,
    (exp + LEEWAY_SECONDS) * 1000,
  );
}

function notReplayed(fresh: boolean, client: Client): Client {
  if (!fresh) {
    throw new JwtRejected(
      'replay',
      'this assertion was already used: make a new one (with a new jti) for every request',
    );
  }
  return client;
}

function rethrownAsTvmError(e: unknown): never {
  throw asTvmError(e);
}

function asTvmError(e: unknown): unknown {
  if (e instanceof JwtRejected) {
    return new TvmError('ERR_INVALID_CLIENT', e.message, {
      detail: `assertion ${e.reason}${e.detail ? `: ${e.detail}` : ''}`,
    });
  }
  if (e instanceof KeysUnavailable) {
    // A partner's key endpoint being down is the partner's to fix, and answering it
    // differently from a bad assertion would tell anyone which client ids exist and
    // fetch keys: the same refusal, the cause for the operator in the audit record.
    return new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
      detail: `assertion keys_unavailable: ${e.detail}`,
    });
  }
  if (e instanceof ReplayStoreFull) {
    return new TvmError(
      'ERR_UPSTREAM_UNAVAILABLE',
      'the service is busy; retry later',
      {detail: 'replay store full', retryAfterSeconds: 5},
    );
  }
  return e;
}
