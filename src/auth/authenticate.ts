/**
 * Who is calling: the one entry of caller authentication. Every way a caller proves
 * itself — an API key (Basic or body), a signed client assertion (private_key_jwt), an
 * OIDC subject token, an API key as a subject token, a bearer on the IAM Credentials
 * route — ends in one `Caller`, and every client found is held to its source ranges.
 */
import type {Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import type {KeyResolver} from '../oidc/keys.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {callerString} from '../text.ts';
import {authenticateApiKey, authenticateApiKeyAlone} from './api-key.ts';
import {
  claimedClient,
  claimedMethod,
  looksLikeJwt,
  type Caller,
  type CallerNotes,
  type Credentials,
} from './caller.ts';
import {authenticateAssertion} from './client-assertion.ts';
import type {ClientCredentials} from './client-credentials.ts';
import {authenticateOidcSubject} from './oidc-subject.ts';
import type {ReplayStore} from './replay-store.ts';

export interface AuthenticatorDeps {
  /** TVM_ISSUER: the audience client assertions must carry. */
  readonly issuer: string | undefined;
  readonly clock: Clock;
  readonly keys: KeyResolver;
  readonly replay: ReplayStore;
}

/**
 * Authenticates the caller that presents `credentials` from address `ip` under
 * `policy`. `notes` receives what is learnt as it goes, verified or not, for the audit
 * of a refusal. Refusals are TvmError: invalid_client, invalid_grant, or 503 when keys
 * or the replay store are unavailable. What needs no waiting is answered at once (an
 * API key; any refusal made before a signature is checked) and refused by a throw;
 * the rest (a signed JWT) through a promise, and a rejection.
 */
export type Authenticate = (
  policy: CompiledPolicy,
  credentials: Credentials,
  ip: string,
  notes: CallerNotes,
) => Caller | Promise<Caller>;

/** Creates `authenticate` over its dependencies. */
export function createAuthenticate(deps: AuthenticatorDeps): Authenticate {
  const {clock} = deps;
  const assertionDeps = {
    issuer: deps.issuer,
    keys: deps.keys,
    replay: deps.replay,
    clock,
  };
  const oidcDeps = {keys: deps.keys, clock};

  // Written without async functions, each JWT caller finished in the one `then` on
  // its verification: every async function and every promise is an allocation and a
  // turn of the microtask queue, so a JWT caller makes as few of its own as it can.

  /** The caller: `client`, proven by `notes.authMethod`, the client noted. */
  const found = (
    notes: CallerNotes,
    client: Client,
    issuer?: string,
    subject?: string,
  ): Caller => {
    notes.client = client.id;
    return {client, method: notes.authMethod!, issuer, subject};
  };

  /** The client that client authentication `creds` prove. */
  const authenticateClient = (
    policy: CompiledPolicy,
    creds: ClientCredentials,
    ip: string,
  ): Client | Promise<Client> =>
    creds.method === 'assertion'
      ? authenticateAssertion(
          policy,
          creds.clientId,
          creds.assertion,
          assertionDeps,
        ).then(client => withinSourceRanges(client, ip))
      : withinSourceRanges(
          authenticateApiKey(policy, creds.clientId, creds.secret, clock.now()),
          ip,
        );

  /** RFC 8693: the client a subject token authenticates, client auth optional beside. */
  const authenticateSubject = (
    policy: CompiledPolicy,
    credentials: Credentials & {kind: 'subject'},
    ip: string,
    notes: CallerNotes,
  ): Caller | Promise<Caller> => {
    const authenticated = credentials.client
      ? authenticateClient(policy, credentials.client, ip)
      : undefined;
    return authenticated instanceof Promise
      ? authenticated.then(client =>
          subjectOf(policy, credentials, ip, notes, client),
        )
      : subjectOf(policy, credentials, ip, notes, authenticated);
  };

  /** The subject token's client, once client authentication (if any) proved `authenticated`. */
  const subjectOf = (
    policy: CompiledPolicy,
    credentials: Credentials & {kind: 'subject'},
    ip: string,
    notes: CallerNotes,
    authenticated: Client | undefined,
  ): Caller | Promise<Caller> => {
    const named = authenticated?.id ?? credentials.clientId;
    if (credentials.tokenType === 'api_key') {
      const client = apiKeySubject(policy, credentials.token, ip);
      sameClient(named, client, 'subject API key');
      return found(notes, client);
    }
    return authenticateOidcSubject(
      policy,
      credentials.token,
      oidcDeps,
      notes,
      named === undefined
        ? undefined
        : {clientId: named, authenticated: authenticated !== undefined},
    ).then(identity => {
      sameClient(named, identity.client, 'subject token');
      return found(
        notes,
        withinSourceRanges(identity.client, ip),
        identity.issuer,
        identity.subject,
      );
    });
  };

  /** An API key as the subject token: the client is the key's owner. */
  const apiKeySubject = (
    policy: CompiledPolicy,
    key: string,
    ip: string,
  ): Client => {
    try {
      return withinSourceRanges(
        authenticateApiKeyAlone(policy, key, clock.now()),
        ip,
      );
    } catch (e) {
      // RFC 8693 §2.2.2: a subject token that is not valid is invalid_grant.
      throw e instanceof TvmError && e.code === 'ERR_INVALID_CLIENT'
        ? new TvmError(
            'ERR_INVALID_GRANT',
            'the subject token is not a valid API key',
            {detail: `subject_token ${e.detail ?? 'refused'}`},
          )
        : e;
    }
  };

  /** A bearer: an OIDC token when it has the shape of a JWT, else an API key. */
  const authenticateBearer = (
    policy: CompiledPolicy,
    credential: string,
    ip: string,
    notes: CallerNotes,
  ): Caller | Promise<Caller> => {
    if (looksLikeJwt(credential)) {
      return authenticateOidcSubject(policy, credential, oidcDeps, notes).then(
        identity =>
          found(
            notes,
            withinSourceRanges(identity.client, ip),
            identity.issuer,
            identity.subject,
          ),
      );
    }
    const client = authenticateApiKeyAlone(policy, credential, clock.now());
    return found(notes, withinSourceRanges(client, ip));
  };

  return (policy, credentials, ip, notes) => {
    notes.authMethod = claimedMethod(credentials);
    notes.client = claimedClient(credentials);
    switch (credentials.kind) {
      case 'client': {
        const creds = credentials.client;
        if (creds.method !== 'assertion') {
          const client = authenticateApiKey(
            policy,
            creds.clientId,
            creds.secret,
            clock.now(),
          );
          return found(notes, withinSourceRanges(client, ip));
        }
        return authenticateAssertion(
          policy,
          creds.clientId,
          creds.assertion,
          assertionDeps,
        ).then(client => found(notes, withinSourceRanges(client, ip)));
      }
      case 'subject':
        return authenticateSubject(policy, credentials, ip, notes);
      case 'bearer':
        return authenticateBearer(policy, credentials.credential, ip, notes);
    }
  };
}

/** Refuses a client from an address outside its source ranges; else returns it. */
function withinSourceRanges(client: Client, ip: string): Client {
  if (
    client.sourceRanges.length > 0 &&
    !client.sourceRanges.some(r => r.contains(ip))
  ) {
    throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed', {
      detail: 'source address outside the client source_ranges',
    });
  }
  return client;
}

/** A request that names a client must be authenticated as that client. */
function sameClient(
  named: string | undefined,
  client: Client,
  what: string,
): void {
  if (named !== undefined && named !== client.id) {
    throw new TvmError(
      'ERR_INVALID_GRANT',
      'the subject token does not authenticate the client named in this request',
      {
        detail: `client ${callerString(named)} named, ${what} is client ${client.id}`,
      },
    );
  }
}
