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

/** The client `token` authenticates; `notes` get its issuer and subject. */
export async function authenticateOidcSubject(
  policy: CompiledPolicy,
  token: string,
  deps: SubjectTokenDeps,
  notes: CallerNotes,
  hint?: ClientHint,
): Promise<SubjectIdentity> {
  noteClaims(token, notes);
  try {
    const identity = await authenticateSubjectToken(policy, token, deps, hint);
    notes.issuer = identity.issuer;
    notes.subject = callerString(identity.subject);
    return identity;
  } catch (e) {
    if (e instanceof JwtRejected) {
      // Until the signature is verified, the answer says nothing of the trust; the
      // operator reads the explanation in the audit record.
      const hidden = BEFORE_SIGNATURE.has(e.reason);
      const detail = [e.reason, hidden ? e.message : undefined, e.detail]
        .filter(Boolean)
        .join(': ');
      throw new TvmError('ERR_INVALID_GRANT', hidden ? UNVERIFIED : e.message, {
        detail: `subject_token ${detail}`,
      });
    }
    if (e instanceof KeysUnavailable) {
      throw new TvmError(
        'ERR_UPSTREAM_UNAVAILABLE',
        "the subject token's issuer keys could not be fetched; retry later",
        {detail: e.detail, retryAfterSeconds: 5},
      );
    }
    throw e;
  }
}

/**
 * Who the token claims to be, for the audit of a refusal (replaced by the verified
 * values when it is accepted). A token that cannot be read notes nothing: the same
 * check runs again in verification and explains itself.
 */
function noteClaims(token: string, notes: CallerNotes): void {
  try {
    const {payload} = inspectJwt(token);
    notes.issuer =
      typeof payload.iss === 'string' ? callerString(payload.iss) : undefined;
    notes.subject =
      typeof payload.sub === 'string' ? callerString(payload.sub) : undefined;
  } catch {
    // Explained by verification.
  }
}
