/**
 * Who is calling: every way a caller proves itself, in one place. API keys (Basic or
 * body), signed client assertions (private_key_jwt), OIDC subject tokens, and bearer
 * credentials on the IAM Credentials route; then the client's source ranges, checked
 * against the address Google's front end saw.
 */
import type {Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import {JwtRejected, KeysUnavailable} from '../oidc/errors.ts';
import {inspectJwt} from '../oidc/jws.ts';
import type {KeyResolver} from '../oidc/keys.ts';
import {
  authenticateSubjectToken,
  type SubjectIdentity,
} from '../oidc/subject-token.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {callerString} from '../audit.ts';
import {authenticateApiKey, hashApiKey} from './api-key.ts';
import {authenticateAssertion} from './client-assertion.ts';
import type {ClientCredentials} from './client-credentials.ts';
import type {ReplayStore} from './replay-store.ts';

/** What authentication learnt, noted for the audit as it goes (verified or not). */
export interface AuthNotes {
  authMethod: string | undefined;
  issuer: string | undefined;
  subject: string | undefined;
}

export interface AuthenticatorDeps {
  /** TVM_ISSUER: the audience client assertions must carry. */
  readonly issuer: string | undefined;
  readonly clock: Clock;
  readonly keys: KeyResolver;
  readonly replay: ReplayStore;
}

export interface Authenticator {
  /** The client that `creds` prove, from address `ip`. */
  client(
    policy: CompiledPolicy,
    creds: ClientCredentials,
    ip: string,
  ): Promise<Client>;
  /**
   * The client an OIDC subject token authenticates. `named`: the client the request
   * names (its error descriptions may then say more, when `authenticated`).
   */
  subject(
    policy: CompiledPolicy,
    token: string,
    seen: AuthNotes,
    named?: {clientId: string; authenticated: boolean},
  ): Promise<SubjectIdentity>;
  /** `Authorization: Bearer <API key or OIDC token>`, as the IAM Credentials API takes it. */
  bearer(
    policy: CompiledPolicy,
    authorization: string | undefined,
    ip: string,
    seen: AuthNotes,
  ): Promise<Client>;
  /**
   * The client whose API key `key` is, found by the key's hash alone (no client id
   * is sent with it). Throws TvmError invalid_client.
   */
  apiKeyAlone(policy: CompiledPolicy, key: string, ip: string): Client;
  /** Refuses `client` from an address outside its source ranges. */
  checkSourceRange(client: Client, ip: string, basic: boolean): void;
}

/** The audit name of an authentication method. */
export function authMethodOf(creds: ClientCredentials): string {
  return creds.method === 'assertion' ? 'private_key_jwt' : creds.method;
}

/** Creates the Authenticator. */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const {clock, keys, replay} = deps;

  const checkSourceRange = (client: Client, ip: string, basic: boolean) => {
    if (client.sourceRanges.length === 0) return;
    if (!client.sourceRanges.some(r => r.contains(ip))) {
      throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
        basicChallenge: basic,
        detail: 'source address outside the client source_ranges',
      });
    }
  };

  const apiKeyAlone: Authenticator['apiKeyAlone'] = (policy, key, ip) => {
    // An API key alone names no client, so it is looked up by its SHA-256: a map
    // lookup on the hash of a 256-bit random key lets timing reveal nothing usable.
    const hash = hashApiKey(key);
    const client = policy.clientsByApiKey.get(hash.toString('hex'));
    const found = client?.apiKeys.find(k => k.sha256.equals(hash));
    if (
      !client ||
      !found ||
      (found.expiresAt !== undefined && clock.now() >= found.expiresAt)
    ) {
      throw new TvmError('ERR_INVALID_CLIENT', 'The credential is not valid.', {
        detail: !client ? 'unknown key' : 'expired key',
      });
    }
    checkSourceRange(client, ip, false);
    return client;
  };

  const subject: Authenticator['subject'] = async (
    policy,
    token,
    seen,
    named,
  ) => {
    try {
      // Who the token claims to be, for the audit of a refusal (replaced below by the
      // verified values when it is accepted).
      const {payload} = inspectJwt(token);
      seen.issuer =
        typeof payload.iss === 'string' ? callerString(payload.iss) : undefined;
      seen.subject =
        typeof payload.sub === 'string' ? callerString(payload.sub) : undefined;
    } catch {
      // The same check runs again inside authenticateSubjectToken and explains itself.
    }
    try {
      const identity = await authenticateSubjectToken(
        policy,
        token,
        {keys, clock},
        named,
      );
      seen.issuer = identity.issuer;
      seen.subject = callerString(identity.subject);
      return identity;
    } catch (e) {
      if (e instanceof JwtRejected) {
        throw new TvmError('ERR_INVALID_GRANT', e.message, {
          detail: `subject_token ${e.reason}${e.detail ? `: ${e.detail}` : ''}`,
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
  };

  return {
    async client(policy, creds, ip) {
      const client =
        creds.method === 'assertion'
          ? await authenticateAssertion(
              policy,
              creds.clientId,
              creds.assertion,
              {
                issuer: deps.issuer,
                keys,
                replay,
                clock,
              },
            )
          : authenticateApiKey(
              policy,
              creds.clientId,
              creds.secret,
              clock.now(),
              creds.method === 'basic',
            );
      checkSourceRange(client, ip, creds.method === 'basic');
      return client;
    },

    subject,

    async bearer(policy, authorization, ip, seen) {
      const m = /^Bearer[ ]+([\x21-\x7e]{1,8192})[ ]*$/i.exec(
        authorization ?? '',
      );
      if (!m) {
        throw new TvmError(
          'ERR_INVALID_CLIENT',
          'Request is missing required authentication credential. Expected an API key or an OIDC token as a bearer.',
        );
      }
      const credential = m[1]!;
      if (credential.split('.').length === 3) {
        seen.authMethod = 'bearer_subject_token';
        const identity = await subject(policy, credential, seen);
        checkSourceRange(identity.client, ip, false);
        return identity.client;
      }
      seen.authMethod = 'bearer_api_key';
      return apiKeyAlone(policy, credential, ip);
    },

    apiKeyAlone,
    checkSourceRange,
  };
}
