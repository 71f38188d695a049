/**
 * Who is calling: what a caller presents to prove itself (`Credentials`, read from the
 * request by its grant, not yet verified) and what tvm concludes (`Caller`, once
 * verified). `src/auth/authenticate.ts` turns the first into the second.
 */
import {callerString} from '../text.ts';
import type {Client} from '../policy/types.ts';
import type {ClientCredentials} from './client-credentials.ts';

/** What a request presents to prove who is calling. */
export type Credentials =
  /** Client authentication alone (`client_credentials`). */
  | {readonly kind: 'client'; readonly client: ClientCredentials}
  /**
   * A subject token (RFC 8693): an OIDC token, or one of tvm's API keys; client
   * authentication is optional beside it and must then name the same client.
   */
  | {
      readonly kind: 'subject';
      readonly token: string;
      readonly tokenType: 'jwt' | 'api_key';
      readonly client: ClientCredentials | undefined;
      /** The `client_id` parameter, when the request names a client. */
      readonly clientId: string | undefined;
    }
  /** `Authorization: Bearer <API key or OIDC token>`, as the IAM Credentials API takes it. */
  | {readonly kind: 'bearer'; readonly credential: string};

/** A verified caller: which client it is, and how it proved it. */
export interface Caller {
  readonly client: Client;
  /**
   * How it proved it, as the audit names it: `basic`, `body`, `private_key_jwt`,
   * `subject_token`, `subject_token+basic`, `subject_api_key`, `bearer_api_key`,
   * `bearer_subject_token`, ...
   */
  readonly method: string;
  /** For OIDC callers: the verified issuer and subject. */
  readonly issuer: string | undefined;
  readonly subject: string | undefined;
}

/**
 * What is known of a caller while it is being authenticated, verified or not: the
 * audit record of a refusal says who the caller claimed to be.
 */
export interface CallerNotes {
  /** How the caller claims to prove itself (see `Caller.method`). */
  authMethod: string | undefined;
  /** The claimed client id, encoded; replaced by the verified id on success. */
  client: string | undefined;
  issuer: string | undefined;
  subject: string | undefined;
}

/** The audit name of a client authentication method. */
export function clientMethodName(creds: ClientCredentials): string {
  return creds.method === 'assertion' ? 'private_key_jwt' : creds.method;
}

/** How `credentials` claim to prove the caller, before anything is verified. */
export function claimedMethod(credentials: Credentials): string {
  switch (credentials.kind) {
    case 'client':
      return clientMethodName(credentials.client);
    case 'subject': {
      const base =
        credentials.tokenType === 'api_key'
          ? 'subject_api_key'
          : 'subject_token';
      return credentials.client
        ? `${base}+${clientMethodName(credentials.client)}`
        : base;
    }
    case 'bearer':
      return looksLikeJwt(credentials.credential)
        ? 'bearer_subject_token'
        : 'bearer_api_key';
  }
}

/** The client id `credentials` claim, encoded for the audit, before verification. */
export function claimedClient(credentials: Credentials): string | undefined {
  if (credentials.kind === 'bearer') return undefined;
  return callerString(credentials.client?.clientId);
}

/** A compact JWS has three dot-separated parts; a tvm API key has none. */
export function looksLikeJwt(credential: string): boolean {
  return credential.split('.').length === 3;
}
