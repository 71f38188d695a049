/**
 * Token exchange (RFC 8693): which client a subject token authenticates. The token's
 * `iss` selects the compiled trust of that issuer (exact string match); the keys and
 * algorithms of that issuer verify it (never a shared pool); its single `aud` and its
 * claims then select the one client of the issuer whose conditions it meets
 * (src/policy/issuers.ts guarantees there is at most one).
 *
 * Refusals explain themselves: the description names the claim that failed and the
 * kind of condition, and the token's own value; the expected value only when the
 * caller authenticated as that client (it is then its own configuration). The audit
 * detail has everything.
 */

import type {Clock} from '../clock.ts';
import {describeMismatch, type UnmetCondition} from '../policy/explain.ts';
import type {
  Client,
  CompiledPolicy,
  IssuerClient,
  IssuerTrust,
} from '../policy/types.ts';
import {JwtRejected} from '../errors.ts';
import type {InspectedJwt, UnverifiedJwt} from './jws.ts';
import {shown} from '../text.ts';
import type {KeyResolver, VerificationKey} from './keys.ts';
import {LEEWAY_SECONDS, verifyJwt} from './verify.ts';

export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** Longest remaining life accepted for a subject token: a day. Longer is not "short-lived". */
export const MAX_SUBJECT_TOKEN_TTL_SECONDS = 24 * 3600;

/** Who a verified subject token is. */
export interface SubjectIdentity {
  readonly client: Client;
  readonly issuer: string;
  readonly subject: string;
}

export interface SubjectTokenDeps {
  readonly keys: KeyResolver;
  readonly clock: Clock;
}

/** The client the caller named, if any, and whether it proved to be that client. */
export interface ClientHint {
  readonly clientId: string;
  readonly authenticated: boolean;
}

/**
 * Verifies `jwt` (read by inspectJwt) and resolves to the client it authenticates.
 * What is refused before any key is used throws at once; the rest rejects. Either is
 * JwtRejected (the caller answers invalid_grant) or KeysUnavailable (503).
 */
export function authenticateSubjectToken(
  policy: CompiledPolicy,
  jwt: InspectedJwt,
  deps: SubjectTokenDeps,
  hint?: ClientHint,
): Promise<SubjectIdentity> {
  refuseAccessTokens(jwt);
  const iss = jwt.payload.iss;
  const trust = typeof iss === 'string' ? policy.issuers.get(iss) : undefined;
  if (!trust) {
    throw new JwtRejected(
      'untrusted_issuer',
      `the subject token's issuer ${shown(iss)} is not trusted (it must match a trusted issuer exactly)`,
    );
  }
  const verify = (key: VerificationKey): Promise<SubjectIdentity> =>
    verifyJwt(
      jwt,
      {
        key,
        algorithms: trust.algorithms,
        issuer: trust.issuer,
        requiredClaims: ['exp', 'sub'],
        clock: deps.clock,
      },
      payload => {
        refuseLongLived(payload, deps.clock.now());
        const {client} = selectClient(trust, payload, hint);
        return {client, issuer: trust.issuer, subject: String(payload.sub)};
      },
    );
  const key = deps.keys.keyFor(trust.keys, jwt, trust.issuer);
  return key instanceof Promise ? key.then(verify) : verify(key);
}

/**
 * The one client of `trust` (the token's issuer) whose audience and claim conditions
 * the verified `claims` meet; JwtRejected explaining why otherwise. Used after
 * verification, and offline by `tvm policy explain`.
 */
export function selectClient(
  trust: IssuerTrust,
  claims: Record<string, unknown>,
  hint?: ClientHint,
): IssuerClient {
  const aud = singleAudience(claims.aud);
  const matched = trust.clients.filter(
    c => c.audiences.has(aud) && unmetConditions(c, claims).length === 0,
  );
  if (matched.length === 1) return matched[0]!;
  throw explain(trust.clients, aud, claims, hint);
}

/**
 * The rules of tvm's own on subject tokens beyond the JWT checks (used by the service
 * and, offline, by `tvm policy explain`, so the two cannot disagree): no OAuth access
 * token (typ at+jwt), and no token that lives longer than
 * MAX_SUBJECT_TOKEN_TTL_SECONDS from `nowMs`.
 */
export function checkSubjectTokenRules(
  jwt: UnverifiedJwt,
  nowMs: number,
): void {
  refuseAccessTokens(jwt);
  refuseLongLived(jwt.payload, nowMs);
}

function refuseLongLived(payload: {exp?: unknown}, nowMs: number): void {
  const exp = typeof payload.exp === 'number' ? payload.exp : 0;
  if (exp > nowMs / 1000 + MAX_SUBJECT_TOKEN_TTL_SECONDS + LEEWAY_SECONDS) {
    throw new JwtRejected(
      'exp_too_far',
      `the subject token lives too long: exp must be within ${MAX_SUBJECT_TOKEN_TTL_SECONDS}s`,
    );
  }
}

function refuseAccessTokens(jwt: UnverifiedJwt): void {
  const typ = jwt.header.typ;
  if (typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ)) {
    throw new JwtRejected(
      'wrong_token_kind',
      'an OAuth access token (typ at+jwt) is not an identity token',
    );
  }
}

/**
 * The token's audience: one string. A token addressed to several audiences can be
 * replayed here by any of them, so only a single audience is accepted (a one-element
 * array counts as one).
 */
function singleAudience(aud: unknown): string {
  const list = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(list) || list.length === 0) {
    throw new JwtRejected('missing_aud', 'the subject token has no aud claim');
  }
  if (list.length > 1) {
    throw new JwtRejected(
      'multiple_aud',
      'the subject token must have exactly one audience (aud); request a token for this service only',
    );
  }
  const [only] = list as unknown[];
  if (typeof only !== 'string') {
    throw new JwtRejected('malformed', 'the subject token aud is not a string');
  }
  return only;
}

/** The conditions of `c` that `claims` do not meet: a claim must be a string to meet one. */
function unmetConditions(
  c: IssuerClient,
  claims: Record<string, unknown>,
): UnmetCondition[] {
  const out: UnmetCondition[] = [];
  for (const condition of c.conditions) {
    const v = Object.hasOwn(claims, condition.claim)
      ? claims[condition.claim]
      : undefined;
    const ok =
      typeof v === 'string' &&
      (condition.kind === 'equals'
        ? v === condition.value
        : condition.glob.regex.test(v));
    if (!ok) out.push({condition, actual: v});
  }
  return out;
}

/** Why the token is not client `c`, each failed check with its condition. */
function mismatch(
  c: IssuerClient,
  aud: string,
  claims: Record<string, unknown>,
): string {
  return describeMismatch(
    aud,
    c.audiences.has(aud),
    unmetConditions(c, claims),
  );
}

/**
 * Why no client matched. Explained against the client the caller named, else the
 * only client of the issuer that accepts this audience; else generically.
 */
function explain(
  clients: readonly IssuerClient[],
  aud: string,
  claims: Record<string, unknown>,
  hint: ClientHint | undefined,
): JwtRejected {
  const named = hint && clients.find(c => c.client.id === hint.clientId);
  const byAudience = clients.filter(c => c.audiences.has(aud));
  const target = named ?? (byAudience.length === 1 ? byAudience[0] : undefined);
  const detailAll = clients
    .map(c => `${c.client.id}: ${mismatch(c, aud, claims)}`)
    .join('; ');
  if (byAudience.length === 0 && !named) {
    // Audiences are public (they name this service), so saying the token's own aud
    // is not one of them reveals nothing about any client.
    return new JwtRejected(
      'audience_not_trusted',
      `the subject token's aud ${shown(aud)} is not an audience trusted for its issuer`,
      detailAll,
    );
  }
  const own =
    hint?.authenticated === true && named !== undefined && named === target;
  if (!own || !target) {
    // The caller has not proven it is the client it names (or named none): anyone
    // holding a token from a public issuer could otherwise learn which clients exist
    // and which claims they constrain. The audit record has every reason.
    return new JwtRejected(
      named ? 'conditions_not_met' : 'no_matching_client',
      NOT_ACCEPTED,
      detailAll,
    );
  }
  return new JwtRejected(
    'conditions_not_met',
    `the subject token does not meet client ${shown(target.client.id)}'s conditions: ${mismatch(target, aud, claims)}`,
    `client ${target.client.id}: ${mismatch(target, aud, claims)}`,
  );
}

/** What a caller that has not authenticated as the client learns of a refusal. */
const NOT_ACCEPTED =
  'no client accepts this subject token (its issuer, audience and claims); the audit record of this request (X-Request-Id) says which condition failed, and `tvm policy explain --token` shows it offline';
