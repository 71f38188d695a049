/**
 * POST /token: the OAuth 2.0 token endpoint (RFC 6749 §3.2). Grants:
 * `client_credentials` (§4.4) with an API key or a signed client assertion (RFC 7523
 * §2.2), and token exchange (RFC 8693 §2) with an OIDC subject token.
 */
import type {Request, Response} from 'express';
import {callerString} from '../audit.ts';
import {authMethodOf, type Authenticator} from '../auth/authenticate.ts';
import {readClientCredentials} from '../auth/client-credentials.ts';
import {TvmError} from '../errors.ts';
import {TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT} from '../oidc/subject-token.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_TVM_API_KEY,
} from '../token-types.ts';
import type {Audit, AuditTrail} from './audit-trail.ts';
import {sendError} from './errors.ts';
import {grantAndMint, policyInForce, type GrantDeps} from './grant.ts';
import type {RateLimiters} from './rate-limit.ts';
import {parseLifetime, readTokenParams} from './token-request.ts';

export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_TOKEN_EXCHANGE =
  'urn:ietf:params:oauth:grant-type:token-exchange';
export {TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_TVM_API_KEY};

export interface TokenEndpointDeps extends GrantDeps {
  readonly auth: Authenticator;
  readonly limiters: RateLimiters;
  readonly trail: AuditTrail;
}

/** The handler of POST /token; answers every outcome itself, never rejects. */
export function createTokenEndpoint(deps: TokenEndpointDeps) {
  const {auth, trail} = deps;

  /**
   * RFC 8693 token exchange: the subject token authenticates the client. Client
   * authentication is optional (an external_account configuration with client_id and
   * client_secret sends Basic); when present, it must name the same client as the
   * subject token.
   */
  async function exchange(
    policy: CompiledPolicy,
    params: ReadonlyMap<string, string>,
    req: Request,
    audit: Audit,
  ): Promise<Client> {
    const subjectToken = params.get('subject_token');
    const tokenType = params.get('subject_token_type');
    if (subjectToken === undefined || tokenType === undefined) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'subject_token and subject_token_type are required',
      );
    }
    if (
      tokenType !== TOKEN_TYPE_JWT &&
      tokenType !== TOKEN_TYPE_ID_TOKEN &&
      tokenType !== TOKEN_TYPE_TVM_API_KEY
    ) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `subject_token_type must be ${TOKEN_TYPE_JWT}, ${TOKEN_TYPE_ID_TOKEN} or ${TOKEN_TYPE_TVM_API_KEY}`,
      );
    }
    const requested = params.get('requested_token_type');
    if (requested !== undefined && requested !== TOKEN_TYPE_ACCESS_TOKEN) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}`,
      );
    }
    if (params.has('actor_token') || params.has('actor_token_type')) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'actor_token (delegation) is not supported',
      );
    }
    audit.authMethod = 'subject_token';
    let authenticated: Client | undefined;
    if (
      req.headers.authorization !== undefined ||
      params.has('client_secret') ||
      params.has('client_assertion') ||
      params.has('client_assertion_type')
    ) {
      const creds = readClientCredentials(req.headers.authorization, params);
      audit.authMethod = `subject_token+${authMethodOf(creds)}`;
      audit.client = callerString(creds.clientId);
      authenticated = await auth.client(policy, creds, req.ip ?? '');
    }
    const named = authenticated?.id ?? params.get('client_id');
    if (tokenType === TOKEN_TYPE_TVM_API_KEY) {
      audit.authMethod = audit.authMethod.replace(
        'subject_token',
        'subject_api_key',
      );
      return apiKeySubject(policy, subjectToken, named, req);
    }
    const identity = await auth.subject(
      policy,
      subjectToken,
      audit,
      named === undefined
        ? undefined
        : {clientId: named, authenticated: authenticated !== undefined},
    );
    if (named !== undefined && named !== identity.client.id) {
      throw new TvmError(
        'ERR_INVALID_GRANT',
        'the subject token does not authenticate the client named in this request',
        {
          detail: `client ${callerString(named)} named, subject token is client ${identity.client.id}`,
        },
      );
    }
    auth.checkSourceRange(identity.client, req.ip ?? '', false);
    return identity.client;
  }

  /** An API key as the subject token: the client is the key's owner. */
  function apiKeySubject(
    policy: CompiledPolicy,
    key: string,
    named: string | undefined,
    req: Request,
  ): Client {
    let client: Client;
    try {
      client = auth.apiKeyAlone(policy, key, req.ip ?? '');
    } catch (e) {
      // RFC 8693 §2.2.2: a subject token that is not valid is invalid_grant.
      throw e instanceof TvmError && e.code === 'ERR_INVALID_CLIENT'
        ? new TvmError(
            'ERR_INVALID_GRANT',
            'the subject token is not a valid API key',
            {
              detail: `subject_token ${e.detail ?? 'refused'}`,
            },
          )
        : e;
    }
    if (named !== undefined && named !== client.id) {
      throw new TvmError(
        'ERR_INVALID_GRANT',
        'the subject token does not authenticate the client named in this request',
        {
          detail: `client ${callerString(named)} named, subject API key is client ${client.id}`,
        },
      );
    }
    return client;
  }

  return async function handleToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const started = performance.now();
    const audit = trail.begin(req);
    // Lets a caller quote the request to the operator, who finds its audit record.
    res.setHeader('X-Request-Id', audit.requestId);
    try {
      const params = await readTokenParams(req);
      const grantType = params.get('grant_type');
      audit.grantType = callerString(grantType);
      if (grantType === undefined) {
        throw new TvmError('ERR_INVALID_REQUEST', 'grant_type is required');
      }
      let policy: CompiledPolicy;
      let client: Client;
      if (grantType === GRANT_CLIENT_CREDENTIALS) {
        policy = await policyInForce(deps.policies);
        const creds = readClientCredentials(req.headers.authorization, params);
        audit.authMethod = authMethodOf(creds);
        audit.client = callerString(creds.clientId);
        client = await auth.client(policy, creds, req.ip ?? '');
      } else if (grantType === GRANT_TOKEN_EXCHANGE) {
        policy = await policyInForce(deps.policies);
        client = await exchange(policy, params, req, audit);
      } else {
        throw new TvmError(
          'ERR_UNSUPPORTED_GRANT_TYPE',
          'this grant type is not supported',
        );
      }
      audit.client = client.id;
      await deps.limiters.perClient(req, res, client.id);

      const audience = params.get('audience');
      if (audience === undefined) {
        throw new TvmError(
          'ERR_INVALID_REQUEST',
          'audience is required: a service account alias or email',
        );
      }
      const granted = await grantAndMint(deps, policy, client, audit, {
        audience,
        scope: params.get('scope'),
        lifetimeSeconds: parseLifetime(params.get('lifetime')),
      });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({
        access_token: granted.accessToken,
        token_type: 'Bearer',
        expires_in: granted.expiresIn,
        scope: granted.scopes.join(' '),
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      });
      trail.allow(req, audit, started);
    } catch (e) {
      if (res.headersSent) return;
      const status = sendError(res, e);
      trail.deny(req, audit, status, started, e);
      if (status >= 500) trail.unexpected(e);
    }
  };
}
