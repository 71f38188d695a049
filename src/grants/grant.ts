/**
 * What a grant is: a module that reads, from a parsed request, what the caller
 * presents to prove who it is, and decides what the authenticated caller gets. One
 * module per grant in this folder; the HTTP layer only parses requests and writes
 * answers, and every grant's decision is minted by `vend` (src/grants/vend.ts).
 *
 * To add a grant: a module here implementing `Grant`, registered in
 * src/grants/index.ts (token endpoint grants, by `grant_type`) or served by a route of
 * its own in src/http/.
 */
import type {Caller, Credentials} from '../auth/caller.ts';
import {TvmError} from '../errors.ts';
import type {CompiledPolicy} from '../policy/types.ts';
import type {AccessRequest, Decision} from './authorize.ts';

/**
 * A grant over requests of type `In` (what the route parsed before authentication)
 * and `Ask` (what the caller asks for, read once it is authenticated), deciding a `D`
 * (an access token's `Decision` unless the grant vends another kind).
 */
export interface Grant<In, Ask, D = Decision> {
  /** The name the audit records (`grant_type`, or the API method it serves). */
  readonly name: string;
  /** What `request` presents to prove who is calling. Throws invalid_request. */
  credentials(request: In): Credentials;
  /** What `caller` may have of what it asks under `policy`. Throws on refusal. */
  decide(policy: CompiledPolicy, ask: Ask, caller: Caller): D;
}

/** A token endpoint request (RFC 6749 §3.2), its body parsed into parameters. */
export interface TokenRequest {
  /** Single-valued parameters; empty ones are absent (RFC 6749 §3.1). */
  readonly params: ReadonlyMap<string, string>;
  /** The Authorization header, as sent. */
  readonly authorization: string | undefined;
}

/** The grant of the token endpoint: it decides on the request's own parameters. */
export type TokenGrant = Grant<TokenRequest, TokenRequest>;

/**
 * `audience`, `scope` and `lifetime` of a token endpoint request, and, when sent,
 * `subject` (domain-wide delegation) and `access_boundary` (a Credential Access
 * Boundary as JSON).
 */
export function tokenAccess(
  params: ReadonlyMap<string, string>,
): AccessRequest {
  const audience = params.get('audience');
  if (audience === undefined) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'audience is required: a service account alias or email',
    );
  }
  const subject = params.get('subject');
  const accessBoundary = params.get('access_boundary');
  return {
    audience,
    scope: params.get('scope'),
    lifetimeSeconds: parseLifetime(params.get('lifetime')),
    subject,
    accessBoundary,
  };
}

/** Parses `lifetime`: decimal seconds, no sign, no fraction. */
export function parseLifetime(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(v)) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'lifetime must be a whole number of seconds',
    );
  }
  return Number(v);
}
