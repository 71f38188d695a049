/**
 * The one HTTP origin: routes Google's own paths to the surface handlers, reads and
 * bounds request bodies, applies armed faults, and writes replies. Google's paths do not
 * collide, so one origin serves the metadata server, /token, IAM Credentials, STS
 * (/v1/token) and tokeninfo at once.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type {Context, Handler, HttpRequest} from './context.ts';
import {apiError} from './errors.ts';
import type {Fault, Faults, FaultTarget} from './faults.ts';
import {
  decodePathSegment,
  handleIam,
  iamStatusReply,
  parseIamPath,
} from './iamcredentials.ts';
import type {Lifecycle} from './lifecycle.ts';
import {
  handleMetadata,
  METADATA_PREFIX,
  metadataStatusReply,
  metadataTarget,
  withFlavor,
} from './metadata.ts';
import {handleToken, oauth2StatusReply} from './oauth2.ts';
import {json, malformedJson, text, type Reply} from './reply.ts';
import {handleSts, stsStatusReply} from './sts.ts';
import {handleConsentRegistration, handleRevoke} from './user-grants.ts';
import {
  handleAccountJwks,
  handleCerts,
  handlePemCerts,
  handleTokeninfo,
  tokeninfoStatusReply,
} from './tokeninfo.ts';

/** Requests larger than this are refused with 413 (nothing the emulator serves needs more). */
const MAX_BODY_BYTES = 64 * 1024;

interface Route {
  readonly target: FaultTarget | undefined;
  readonly handle: Handler;
  readonly statusReply: (status: number) => Reply;
  readonly malformedReply: () => Reply;
}

/** Creates (does not start) the HTTP server of one emulator instance. */
export function createHttpServer(deps: {
  ctx: Context;
  faults: Faults;
  lifecycle: Lifecycle;
}): Server {
  const server = createServer((req, res) => {
    serve(req, res, deps).catch(() => {
      if (!res.headersSent)
        write(res, apiError(500, 'Internal error encountered.'));
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  return server;
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  deps: {ctx: Context; faults: Faults; lifecycle: Lifecycle},
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator.invalid');
  const body = await readBody(req);
  if (body === undefined) {
    write(
      res,
      apiError(413, 'Request entity too large.', {status: 'INVALID_ARGUMENT'}),
    );
    return;
  }
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    body,
  };
  const route = routeFor(request.path, deps.ctx);
  if (route === undefined) {
    write(res, apiError(404, 'Requested entity was not found.'));
    return;
  }
  const fault =
    route.target === undefined ? undefined : deps.faults.take(route.target);
  const reply = await applyFault(fault, route, request, deps);
  write(res, reply);
}

async function applyFault(
  fault: Fault | undefined,
  route: Route,
  req: HttpRequest,
  deps: {ctx: Context; lifecycle: Lifecycle},
): Promise<Reply> {
  switch (fault?.kind) {
    case 'status':
      return route.statusReply(fault.status);
    case 'malformed':
      return route.malformedReply();
    case 'hang':
      return deps.lifecycle.hang();
    case 'delay':
      await deps.lifecycle.sleep(fault.ms);
      return route.handle(req, deps.ctx, undefined);
    default:
      return route.handle(req, deps.ctx, fault);
  }
}

function routeFor(path: string, ctx: Context): Route | undefined {
  if (
    path === '/' ||
    path === METADATA_PREFIX ||
    path.startsWith(`${METADATA_PREFIX}/`)
  ) {
    const target = metadataTarget(path);
    return {
      target,
      handle: handleMetadata,
      statusReply: metadataStatusReply,
      malformedReply: () =>
        withFlavor(
          target === 'metadata.identity'
            ? text(200, 'not-a-jwt')
            : malformedJson(),
        ),
    };
  }
  if (path === '/token' || path === '/oauth2/v4/token') {
    return simple('oauth2.token', handleToken, oauth2StatusReply);
  }
  if (path === '/v1/token') {
    return simple('sts.token', handleSts, stsStatusReply);
  }
  const iam = parseIamPath(path);
  if (iam !== undefined) {
    return simple(`iam.${iam.method}`, handleIam, iamStatusReply);
  }
  if (path === '/revoke' || path === '/o/oauth2/revoke') {
    return simple(undefined, handleRevoke, oauth2StatusReply);
  }
  if (path === '/emulator/v1/instance') {
    return simple(
      undefined,
      async () => json(200, {instance: ctx.state.instanceId}),
      () => json(500, {}),
    );
  }
  if (path === '/emulator/v1/userConsents') {
    return simple(undefined, handleConsentRegistration, () => json(500, {}));
  }
  if (path === '/tokeninfo' || path === '/oauth2/v3/tokeninfo') {
    return simple('tokeninfo', handleTokeninfo, tokeninfoStatusReply);
  }
  if (path === '/oauth2/v3/certs') {
    return simple(
      undefined,
      async () => handleCerts(ctx),
      () => json(500, {}),
    );
  }
  if (path === '/oauth2/v1/certs') {
    return simple(
      undefined,
      async () => handlePemCerts(ctx),
      () => json(500, {}),
    );
  }
  const jwk = /^\/service_accounts\/v1\/jwk\/([^/]+)$/.exec(path)?.[1];
  if (jwk !== undefined) {
    const email = decodePathSegment(jwk);
    return simple(
      undefined,
      async () => handleAccountJwks(email, ctx),
      () => json(500, {}),
    );
  }
  return undefined;
}

function simple(
  target: FaultTarget | undefined,
  handle: Handler,
  statusReply: (status: number) => Reply,
): Route {
  return {target, handle, statusReply, malformedReply: malformedJson};
}

/** The body as UTF-8 text, or undefined when it exceeds MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function write(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-length': Buffer.byteLength(reply.body),
  });
  res.end(reply.body);
}
