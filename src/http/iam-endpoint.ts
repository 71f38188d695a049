/**
 * POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken: the IAM Credentials
 * API's request and answer, the caller authenticated by a bearer API key or OIDC
 * token, under the same policy, minter and audit as /token. Code written against that
 * API (google-auth-library's `Impersonated` with its `endpoint` option) works against
 * tvm by changing one URL.
 */
import type {Request, Response} from 'express';
import type {Authenticator} from '../auth/authenticate.ts';
import type {AuditTrail} from './audit-trail.ts';
import {
  GENERATE_ACCESS_TOKEN_PATH,
  generateAccessTokenResponse,
  readGenerateAccessToken,
  sendGoogleError,
} from './google-shape.ts';
import {grantAndMint, policyInForce, type GrantDeps} from './grant.ts';
import type {RateLimiters} from './rate-limit.ts';

export interface IamEndpointDeps extends GrantDeps {
  readonly auth: Authenticator;
  readonly limiters: RateLimiters;
  readonly trail: AuditTrail;
}

/** The handler of generateAccessToken; answers every outcome itself, never rejects. */
export function createIamEndpoint(deps: IamEndpointDeps) {
  const {auth, trail} = deps;
  return async function handleGenerateAccessToken(
    req: Request,
    res: Response,
  ): Promise<void> {
    const started = performance.now();
    const audit = trail.begin(req);
    // Lets a caller quote the request to the operator, who finds its audit record.
    res.setHeader('X-Request-Id', audit.requestId);
    audit.grantType = 'iamcredentials.generateAccessToken';
    try {
      const email = accountOf(req.path);
      const policy = await policyInForce(deps.policies);
      const client = await auth.bearer(
        policy,
        req.headers.authorization,
        req.ip ?? '',
        audit,
      );
      audit.client = client.id;
      await deps.limiters.perClient(req, res, client.id);
      const body = await readGenerateAccessToken(req);
      const granted = await grantAndMint(deps, policy, client, audit, {
        audience: email,
        scope: body.scope,
        lifetimeSeconds: body.lifetimeSeconds,
      });
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res
        .status(200)
        .json(
          generateAccessTokenResponse(granted.accessToken, granted.expiresAt),
        );
      trail.allow(req, audit, started);
    } catch (e) {
      if (res.headersSent) return;
      const status = sendGoogleError(res, e);
      trail.deny(req, audit, status, started, e);
      if (status >= 500) trail.unexpected(e);
    }
  };
}

/** The service account the path names; a malformed escape names none (403 below). */
function accountOf(path: string): string {
  const segment = GENERATE_ACCESS_TOKEN_PATH.exec(path)![1]!;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
