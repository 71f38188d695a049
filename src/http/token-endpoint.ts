/**
 * POST /token: the OAuth 2.0 token endpoint (RFC 6749 §3.2) as HTTP. The body becomes
 * a token request, its `grant_type` selects the grant (src/grants/), the caller is
 * authenticated (src/auth/) and limited per client, the grant decides, the token is
 * vended, and the answer is an OAuth 2.0 token response or error — each audited.
 */
import type {Request, Response} from 'express';
import type {AuditTrail} from '../audit.ts';
import {callerString} from '../text.ts';
import type {Authenticate} from '../auth/authenticate.ts';
import {tokenGrant} from '../grants/index.ts';
import {vend, type VendDeps} from '../grants/vend.ts';
import {policyInForce, type PolicySource} from '../policy-source.ts';
import {TOKEN_TYPE_ACCESS_TOKEN} from '../token-types.ts';
import {sendOAuthError} from './errors.ts';
import type {RateLimiters} from './rate-limit.ts';
import {beginAudit, readTokenParams, sentBasic} from './request.ts';

/** What the HTTP routes need: the policy, authentication, limits, audit and vending. */
export interface RouteDeps extends VendDeps {
  readonly policies: PolicySource;
  readonly authenticate: Authenticate;
  readonly limiters: RateLimiters;
  readonly trail: AuditTrail;
}

/** The handler of POST /token; answers every outcome itself, never rejects. */
export function createTokenEndpoint(deps: RouteDeps) {
  const {trail} = deps;
  return async function handleToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const audit = beginAudit(trail, req, res);
    try {
      const params = await readTokenParams(req);
      const grantType = params.get('grant_type');
      audit.grantType = callerString(grantType);
      audit.requestedAccount = callerString(params.get('audience'));
      const grant = tokenGrant(grantType);
      const policy = await policyInForce(deps.policies);
      const request = {params, authorization: req.headers.authorization};
      const caller = await deps.authenticate(
        policy,
        grant.credentials(request),
        req.ip ?? '',
        audit,
      );
      await deps.limiters.perClient(req, res, caller.client.id);
      const decision = grant.decide(policy, request, caller);
      const vended = await vend(deps, decision, audit);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.status(200).json({
        access_token: vended.accessToken,
        token_type: 'Bearer',
        expires_in: vended.expiresIn,
        scope: vended.scopes.join(' '),
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      });
      trail.allow(audit);
    } catch (e) {
      if (res.headersSent) return;
      trail.deny(audit, sendOAuthError(res, e, sentBasic(req)), e);
    }
  };
}
