/**
 * Signature and time checks of a JWT with jose's `jwtVerify`, for a given key source
 * and algorithm list, with the clock injected (`currentDate`) and a fixed leeway.
 * jose's errors become `JwtRejected` (the token is bad) or `KeysUnavailable` (the keys
 * could not be had; a retry may help). RFC 8725 §3.1: the algorithm list comes from
 * the trust, never from the token.
 */

import {errors, jwtVerify, type JWTPayload} from 'jose';
import type {Clock} from '../clock.ts';
import {JwtRejected, KeysUnavailable} from '../errors.ts';
import type {InspectedJwt} from './jws.ts';
import type {VerificationKey} from './keys.ts';

/**
 * Refusals that come before a JWT's signature is verified and would tell whoever sent
 * it something of the trust: whether its issuer is trusted, which algorithms or keys
 * are. A caller type answers all of them alike (the audit record keeps the reason).
 */
export const BEFORE_SIGNATURE: ReadonlySet<string> = new Set([
  'untrusted_issuer',
  'alg_not_allowed',
  'alg_not_supported',
  'unknown_kid',
  'bad_signature',
]);

/** Clock skew tolerated on exp, nbf and iat, seconds. */
export const LEEWAY_SECONDS = 30;

export interface VerifyOptions {
  /** From the trust's KeyResolver (src/oidc/keys.ts). */
  readonly key: VerificationKey;
  readonly algorithms: readonly string[];
  readonly issuer: string;
  readonly subject?: string;
  readonly requiredClaims: readonly string[];
  readonly clock: Clock;
}

/**
 * Verifies the signature, iss, exp, nbf and iat of `jwt` (read by inspectJwt);
 * resolves to its payload, or to what `accept` makes of it, or rejects with
 * JwtRejected or KeysUnavailable (or what `accept` throws). The checks after jose's,
 * and `accept`, run in the one `then` on its promise rather than in async functions
 * and further `then`s (each an allocation and a turn of the microtask queue).
 */
export function verifyJwt(
  jwt: InspectedJwt,
  options: VerifyOptions,
): Promise<JWTPayload>;
export function verifyJwt<T>(
  jwt: InspectedJwt,
  options: VerifyOptions,
  accept: (payload: JWTPayload) => T,
): Promise<T>;
export function verifyJwt(
  jwt: InspectedJwt,
  options: VerifyOptions,
  accept?: (payload: JWTPayload) => unknown,
): Promise<unknown> {
  const now = options.clock.now();
  return jwtVerify(jwt.token, options.key, {
    algorithms: [...options.algorithms],
    issuer: options.issuer,
    subject: options.subject,
    requiredClaims: [...options.requiredClaims],
    currentDate: new Date(now),
    clockTolerance: LEEWAY_SECONDS,
  }).then(
    ({payload}) => {
      notIssuedInTheFuture(payload, now);
      return accept ? accept(payload) : payload;
    },
    (e: unknown) => {
      throw translate(e);
    },
  );
}

/**
 * jose checks iat only against a maximum age; a token issued in the future is a
 * forgery or a broken clock either way (RFC 7519 §4.1.6).
 */
function notIssuedInTheFuture(payload: JWTPayload, now: number): void {
  if (
    typeof payload.iat === 'number' &&
    payload.iat > now / 1000 + LEEWAY_SECONDS
  ) {
    throw new JwtRejected(
      'iat_future',
      `the JWT was issued in the future (iat beyond the ${LEEWAY_SECONDS}s leeway)`,
    );
  }
}

function translate(e: unknown): Error {
  if (e instanceof KeysUnavailable) return e;
  if (!(e instanceof errors.JOSEError)) {
    return new KeysUnavailable('key selection failed', {cause: e});
  }
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return new JwtRejected('expired', 'the JWT has expired (exp)');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (e as errors.JWTClaimValidationFailed).claim;
      const reason = (e as errors.JWTClaimValidationFailed).reason;
      if (reason === 'missing') {
        return new JwtRejected(
          `missing_${claim}`,
          `the JWT has no ${claim} claim`,
        );
      }
      if (claim === 'nbf') {
        return new JwtRejected(
          'nbf_future',
          `the JWT is not valid yet (nbf beyond the ${LEEWAY_SECONDS}s leeway)`,
        );
      }
      return new JwtRejected(
        `bad_${claim}`,
        `the JWT ${claim} claim is not valid here`,
      );
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new JwtRejected(
        'alg_not_allowed',
        'the JWT alg is not allowed for this issuer',
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new JwtRejected(
        'bad_signature',
        'the JWT signature does not verify with the keys of its issuer',
      );
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new JwtRejected(
        'unknown_kid',
        'no key of the issuer matches the JWT (kid and alg)',
      );
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JOSE_GENERIC':
      return new KeysUnavailable(`JWKS: ${e.code}`, {cause: e});
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new JwtRejected(
        'alg_not_supported',
        'the JWT alg or key type is not supported',
      );
    default:
      return new JwtRejected('malformed', 'the JWT is malformed');
  }
}
