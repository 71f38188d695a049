/**
 * An OIDC token as the caller's proof (RFC 8693 subject token, or a bearer on the IAM
 * Credentials route): verified by src/oidc/, its refusals turned into this caller
 * type's own — invalid_grant (RFC 8693 §2.2.2), or 503 when the issuer's keys cannot
 * be fetched — and its claims noted for the audit as they are learnt.
 */
import {callerString} from '../text.ts';
import {JwtRejected, KeysUnavailable, TvmError} from '../errors.ts';
import {inspectJwt} from '../oidc/jws.ts';
import {BEFORE_SIGNATURE} from '../oidc/verify.ts';
import {
  authenticateSubjectToken,
  type ClientHint,
  type SubjectIdentity,
  type SubjectTokenDeps,
} from '../oidc/subject-token.ts';
import type {CompiledPolicy} from '../policy/types.ts';
import type {CallerNotes} from './caller.ts';

/** What a caller learns of a token refused before its signature was verified. */
export const UNVERIFIED =
  "the subject token could not be verified: it must come from a trusted issuer and be signed with one of that issuer's keys; the audit record of this request (X-Request-Id) says which check failed";

/**
 * The client `token` authenticates; `notes` get its issuer and subject, as claimed
 * (read once, before anything is verified) and then as verified. Refusals are
 * TvmError: thrown at once when the token is refused before any key is used, else a
 * rejection.
 */
export function authenticateOidcSubject(
  policy: CompiledPolicy,
  token: string,
  deps: SubjectTokenDeps,
  notes: CallerNotes,
  hint?: ClientHint,
): Promise<SubjectIdentity> {
  try {
    const jwt = inspectJwt(token);
    noteClaims(jwt.payload, notes);
    return authenticateSubjectToken(policy, jwt, deps, hint).then(
      identity => {
        notes.issuer = identity.issuer;
        notes.subject = callerString(identity.subject);
        return identity;
      },
      (e: unknown) => {
        throw refusal(e);
      },
    );
  } catch (e) {
    throw refusal(e);
  }
}

/** A refusal of the subject token as this caller type answers it. */
function refusal(e: unknown): unknown {
  if (e instanceof JwtRejected) {
    // Until the signature is verified, the answer says nothing of the trust; the
    // operator reads the explanation in the audit record.
    const hidden = BEFORE_SIGNATURE.has(e.reason);
    const detail = [e.reason, hidden ? e.message : undefined, e.detail]
      .filter(Boolean)
      .join(': ');
    return new TvmError('ERR_INVALID_GRANT', hidden ? UNVERIFIED : e.message, {
      detail: `subject_token ${detail}`,
    });
  }
  if (e instanceof KeysUnavailable) {
    return new TvmError(
      'ERR_UPSTREAM_UNAVAILABLE',
      "the subject token's issuer keys could not be fetched; retry later",
      {detail: e.detail, retryAfterSeconds: 5},
    );
  }
  return e;
}

/**
 * Who the token claims to be, for the audit of a refusal (replaced by the verified
 * values when it is accepted).
 */
function noteClaims(
  payload: Readonly<Record<string, unknown>>,
  notes: CallerNotes,
): void {
  notes.issuer =
    typeof payload.iss === 'string' ? callerString(payload.iss) : undefined;
  notes.subject =
    typeof payload.sub === 'string' ? callerString(payload.sub) : undefined;
}
