/**
 * POST /token: the OAuth 2.0 token endpoint (RFC 6749 §3.2) as HTTP. The body becomes
 * a token request, its `grant_type` selects the grant (src/grants/), the caller is
 * authenticated (src/auth/) and limited per client, the grant decides, the token is
 * vended, and the answer is an OAuth 2.0 token response or error — each audited.
 */
import type {ServerResponse} from 'node:http';
import type {Audit, AuditTrail} from '../audit.ts';
import {callerString} from '../text.ts';
import type {Authenticate} from '../auth/authenticate.ts';
import {tokenGrant} from '../grants/index.ts';
import {
  auditIdTokenAsk,
  authorizeIdToken,
  tokenIdTokenAsk,
  vendIdToken,
} from '../grants/id-token.ts';
import {vend, type VendDeps} from '../grants/vend.ts';
import type {IdTokenMinter} from '../mint/id-token.ts';
import {TOKEN_TYPE_ID_TOKEN} from '../oidc/subject-token.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {policyInForce, type PolicySource} from '../policy-source.ts';
import {TOKEN_TYPE_ACCESS_TOKEN} from '../token-types.ts';
import {sendOAuthError} from './errors.ts';
import type {RateLimiters} from './rate-limit.ts';
import {
  beginAudit,
  readTokenParams,
  sentBasic,
  type Exchange,
} from './request.ts';
import {sendJson} from './respond.ts';

/** What the HTTP routes need: the policy, authentication, limits, audit and vending. */
export interface RouteDeps extends VendDeps {
  readonly policies: PolicySource;
  readonly authenticate: Authenticate;
  readonly limiters: RateLimiters;
  readonly trail: AuditTrail;
  /** ID tokens (src/mint/id-token.ts). */
  readonly idTokens: IdTokenMinter;
}

/**
 * The handler of POST /token; answers every outcome itself, never throws or rejects.
 *
 * Each step goes on at once when its answer is at hand and waits only when it is not
 * (`step`), so the common request — body already read, a policy in force, an API key,
 * a cached token — is answered within the call, with no promise made (and served as
 * the framework would serve it, inside a request `domain` with promise hooks on, each
 * promise would cost several times more). The steps and their order are those of
 * docs/architecture.md.
 */
export function createTokenEndpoint(deps: RouteDeps) {
  const {trail, policies} = deps;
  return function handleToken(x: Exchange): void {
    const {req, res} = x;
    const audit = beginAudit(trail, x);
    const refuse = (e: unknown): void => {
      if (res.headersSent) return;
      trail.deny(audit, sendOAuthError(res, e, sentBasic(req)), e);
    };
    try {
      step(readTokenParams(req), refuse, params => {
        const grantType = params.get('grant_type');
        audit.grantType = callerString(grantType);
        audit.requestedAccount = callerString(params.get('audience'));
        const subject = params.get('subject');
        if (subject !== undefined)
          audit.delegatedSubject = callerString(subject);
        const grant = tokenGrant(grantType);
        step(policies.current() ?? policyInForce(policies), refuse, policy => {
          const request = {params, authorization: req.headers.authorization};
          const credentials = grant.credentials(request);
          step(
            deps.authenticate(policy, credentials, x.ip, audit),
            refuse,
            caller => {
              step(
                deps.limiters.perClient(res, caller.client.id),
                refuse,
                () => {
                  if (
                    params.get('requested_token_type') === TOKEN_TYPE_ID_TOKEN
                  ) {
                    answerIdToken(deps, res, refuse, {
                      policy,
                      params,
                      client: caller.client,
                      audit,
                    });
                    return;
                  }
                  const decision = grant.decide(policy, request, caller);
                  step(vend(deps, decision, audit), refuse, vended => {
                    res.setHeader('Cache-Control', 'no-store');
                    res.setHeader('Pragma', 'no-cache');
                    sendJson(res, 200, {
                      access_token: vended.accessToken,
                      token_type: 'Bearer',
                      expires_in: vended.expiresIn,
                      scope: vended.scopes.join(' '),
                      issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
                    });
                    trail.allow(audit);
                  });
                },
              );
            },
          );
        });
      });
    } catch (e) {
      refuse(e);
    }
  };
}

/**
 * The rest of a request for an ID token (`requested_token_type` = the RFC 8693 ID
 * token type), once the caller is authenticated and within its limit: the decision
 * (src/grants/id-token.ts) and an RFC 8693 §2.2.1 answer, whose `access_token` holds
 * the ID token, `issued_token_type` says so, and `token_type` is `N_A` (it is not an
 * OAuth access token).
 */
function answerIdToken(
  deps: RouteDeps,
  res: ServerResponse,
  refuse: (e: unknown) => void,
  r: {
    policy: CompiledPolicy;
    params: ReadonlyMap<string, string>;
    client: Client;
    audit: Audit;
  },
): void {
  const ask = tokenIdTokenAsk(r.params);
  auditIdTokenAsk(r.audit, ask);
  const decision = authorizeIdToken(r.policy, r.client, ask);
  step(vendIdToken(deps, decision, r.audit), refuse, vended => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    sendJson(res, 200, {
      access_token: vended.idToken,
      issued_token_type: TOKEN_TYPE_ID_TOKEN,
      token_type: 'N_A',
      expires_in: vended.expiresIn,
    });
    deps.trail.allow(r.audit);
  });
}

/**
 * Goes on with `value`: now when it is at hand (a throw then reaches the caller's
 * `catch`), or once it resolves, with a rejection or a throw in `next` sent to `refuse`.
 */
function step<T>(
  value: T | Promise<T> | undefined,
  refuse: (e: unknown) => void,
  next: (v: T) => void,
): void {
  if (value instanceof Promise) value.then(next).catch(refuse);
  else next(value as T);
}
