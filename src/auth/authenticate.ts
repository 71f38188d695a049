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
 * of a refusal. Throws TvmError: invalid_client, invalid_grant, or 503 when keys or
 * the replay store are unavailable. An API key needs no I/O: that caller is answered
 * at once (and refused by a throw); the others through a promise.
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

  /** The client that client authentication `creds` prove. */
  const authenticateClient = async (
    policy: CompiledPolicy,
    creds: ClientCredentials,
    ip: string,
  ): Promise<Client> => {
    const client =
      creds.method === 'assertion'
        ? await authenticateAssertion(policy, creds.clientId, creds.assertion, {
            issuer: deps.issuer,
            keys: deps.keys,
            replay: deps.replay,
            clock,
          })
        : authenticateApiKey(policy, creds.clientId, creds.secret, clock.now());
    return withinSourceRanges(client, ip);
  };

  /** RFC 8693: the client a subject token authenticates, client auth optional beside. */
  const authenticateSubject = async (
    policy: CompiledPolicy,
    credentials: Credentials & {kind: 'subject'},
    ip: string,
    notes: CallerNotes,
  ): Promise<Omit<Caller, 'method'>> => {
    const authenticated = credentials.client
      ? await authenticateClient(policy, credentials.client, ip)
      : undefined;
    const named = authenticated?.id ?? credentials.clientId;
    if (credentials.tokenType === 'api_key') {
      const client = apiKeySubject(policy, credentials.token, ip);
      sameClient(named, client, 'subject API key');
      return {client, issuer: undefined, subject: undefined};
    }
    const identity = await authenticateOidcSubject(
      policy,
      credentials.token,
      {keys: deps.keys, clock},
      notes,
      named === undefined
        ? undefined
        : {clientId: named, authenticated: authenticated !== undefined},
    );
    sameClient(named, identity.client, 'subject token');
    return {...identity, client: withinSourceRanges(identity.client, ip)};
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
  const authenticateBearer = async (
    policy: CompiledPolicy,
    credential: string,
    ip: string,
    notes: CallerNotes,
  ): Promise<Omit<Caller, 'method'>> => {
    if (looksLikeJwt(credential)) {
      const identity = await authenticateOidcSubject(
        policy,
        credential,
        {keys: deps.keys, clock},
        notes,
      );
      return {...identity, client: withinSourceRanges(identity.client, ip)};
    }
    const client = authenticateApiKeyAlone(policy, credential, clock.now());
    return {
      client: withinSourceRanges(client, ip),
      issuer: undefined,
      subject: undefined,
    };
  };

  const found = (
    notes: CallerNotes,
    identity: Omit<Caller, 'method'>,
  ): Caller => {
    notes.client = identity.client.id;
    return {...identity, method: notes.authMethod!};
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
          return found(notes, {
            client: withinSourceRanges(client, ip),
            issuer: undefined,
            subject: undefined,
          });
        }
        return authenticateClient(policy, creds, ip).then(client =>
          found(notes, {client, issuer: undefined, subject: undefined}),
        );
      }
      case 'subject':
        return authenticateSubject(policy, credentials, ip, notes).then(f =>
          found(notes, f),
        );
      case 'bearer':
        return authenticateBearer(
          policy,
          credentials.credential,
          ip,
          notes,
        ).then(f => found(notes, f));
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
