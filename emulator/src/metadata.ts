/**
 * The GCE/Cloud Functions metadata server (`/computeMetadata/v1/…`) for the function's
 * own identity. Requests must carry `Metadata-Flavor: Google` and every answer carries it
 * (gcp-metadata refuses an answer without it).
 */
import {EXPIRED_LIFETIME_S, type Context, type HttpRequest} from './context.ts';
import type {Fault} from './faults.ts';
import {json, text, type Reply} from './reply.ts';
import {issueIdToken} from './tokens.ts';

/** The base path of the metadata API. */
export const METADATA_PREFIX = '/computeMetadata/v1';

/** The scope a metadata token carries when the caller asks for none. */
export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

const TOKEN_LIFETIME_S = 3599;

/** Adds the Metadata-Flavor header every metadata answer must carry. */
export function withFlavor(reply: Reply): Reply {
  return {...reply, headers: {...reply.headers, 'metadata-flavor': 'Google'}};
}

/** The metadata answer for a `status` fault: plain text, as the real server sends. */
export function metadataStatusReply(status: number): Reply {
  return withFlavor(text(status, `Emulated metadata server error ${status}\n`));
}

/** Which fault target a metadata path belongs to, if any. */
export function metadataTarget(
  path: string,
): 'metadata.token' | 'metadata.identity' | undefined {
  const m =
    /^\/computeMetadata\/v1\/instance\/service-accounts\/[^/]+\/(token|identity)$/.exec(
      path,
    );
  if (m === null) return undefined;
  return m[1] === 'token' ? 'metadata.token' : 'metadata.identity';
}

/** Answers one metadata request (path starts with /computeMetadata/v1, or is `/`). */
export async function handleMetadata(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  return withFlavor(await answer(req, ctx, fault));
}

/** Whether the request carries the header the metadata server insists on. */
export function hasFlavor(req: HttpRequest): boolean {
  return req.headers['metadata-flavor'] === 'Google';
}

async function answer(
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
): Promise<Reply> {
  if (req.method !== 'GET') return text(405, 'Method not allowed\n');
  if (req.path === '/') return text(200, 'computeMetadata/\n');
  if (!hasFlavor(req)) {
    return text(403, 'Missing required header "Metadata-Flavor": "Google"\n');
  }
  const sub = req.path.slice(METADATA_PREFIX.length).replace(/\/$/, '');
  switch (sub) {
    case '':
      return text(200, 'instance/\nproject/\nuniverse/\n');
    case '/instance':
      return text(200, 'id\nservice-accounts/\nzone\n');
    case '/instance/service-accounts':
      return text(200, 'default/\n');
    case '/project/project-id':
      return text(200, ctx.state.projectId);
    case '/project/numeric-project-id':
      return text(200, ctx.state.projectNumber);
    case '/universe/universe-domain':
      return text(200, 'googleapis.com');
  }
  const m =
    /^\/instance\/service-accounts\/([^/]+)\/(email|token|identity|scopes)$/.exec(
      sub,
    );
  if (m === null) return text(404, 'Not Found\n');
  const [, who, what] = m;
  const account = ctx.state.defaultIdentity();
  if (account === undefined || (who !== 'default' && who !== account.email)) {
    return text(404, 'Not Found\n');
  }
  const expired = fault?.kind === 'expiredToken';
  switch (what) {
    case 'email':
      return text(200, account.email);
    case 'scopes':
      return text(200, `${CLOUD_PLATFORM}\n`);
    case 'token': {
      const scopes = splitScopes(req.query.get('scopes'));
      const lifetime = expired ? EXPIRED_LIFETIME_S : TOKEN_LIFETIME_S;
      const {token} = ctx.state.tokens.issue(
        account.email,
        scopes,
        lifetime * 1000,
      );
      return json(200, {
        access_token: token,
        expires_in: lifetime,
        token_type: 'Bearer',
      });
    }
    default: {
      const audience = req.query.get('audience');
      if (audience === null || audience === '') {
        return text(400, 'non-empty audience parameter required\n');
      }
      const jwt = await issueIdToken(ctx.googleKey, account, audience, {
        nowMs: ctx.now(),
        includeEmail: req.query.get('format') === 'full',
        ...(expired ? {lifetimeSeconds: EXPIRED_LIFETIME_S} : {}),
      });
      return text(200, jwt);
    }
  }
}

function splitScopes(param: string | null): string[] {
  const scopes = (param ?? '')
    .split(/[,\s]+/)
    .map(s => s.trim())
    .filter(Boolean);
  return scopes.length > 0 ? scopes : [CLOUD_PLATFORM];
}
