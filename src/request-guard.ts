/**
 * The front door: what every request must pass, and then who answers it.
 *
 * functions-framework (pinned in package.json; its server is built in
 * node_modules/@google-cloud/functions-framework/build/src/server.js) runs body-parser
 * on every request, on every path, with a 1 GiB limit counted after decompression, and
 * matches `/{*splat}` by percent-decoding the path; it runs every request through a
 * dozen Express layers and a `domain` before the function sees it. A 464-byte brotli
 * body inflates to 1 GiB in the instance's memory; a malformed escape (`/%E0%A4%A`)
 * gets Express's HTML 400 page. It offers no hook before any of that, but it loads the
 * function's module before it creates its server with `http.createServer(app)`. That
 * call is the seam: `installRequestGuard` swaps the listener handed to it for tvm's
 * own (src/http/app.ts) behind `guardRequest`, which
 *
 * - refuses a malformed percent-escape in the path: 400, tvm's JSON;
 * - refuses any `Content-Encoding` other than `identity`: 415, before a byte is read, so
 *   nothing is ever inflated;
 * - refuses a declared `Content-Length` over MAX_BODY_BYTES: 413, before a byte is read;
 * - reads any other body itself, counting bytes as they arrive, and refuses it (413,
 *   connection closed) the moment it passes MAX_BODY_BYTES — chunked bodies included;
 * - answers the paths functions-framework would answer itself without calling the
 *   function (`/favicon.ico`, `/robots.txt` and below, its default ignored routes):
 *   tvm's JSON 404, audited like every other answer, so they read the same either way;
 * - hands tvm the request with its body read (at most MAX_BODY_BYTES) as `rawBody`.
 *
 * The framework's own app is never called: the framework starts the process, loads the
 * module, listens on PORT and stops on SIGTERM, as Cloud Functions runs it; tvm answers
 * every request itself, with nothing parsed, decoded or wrapped before it. The same
 * listener is registered as the `tvm` function (src/main.ts), so should a framework
 * upgrade stop creating its server this way the framework would still serve tvm, its
 * own parsers first; test/hostile/seam.test.ts fails when that happens.
 *
 * Each refusal is one audit line (`auditRefusal`).
 */
import http, {
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import {createAuditTrail, type AuditTrail} from './audit.ts';
import {systemMonotonicClock} from './clock.ts';
import {TvmError, type TvmErrorCode} from './errors.ts';
import {googleStatus, wireError} from './http/errors.ts';
import {GENERATE_ACCESS_TOKEN_PATH} from './http/iam-endpoint.ts';
import {GENERATE_ID_TOKEN_PATH} from './http/iam-id-token-endpoint.ts';
import {clientAddress, MAX_BODY_BYTES, targetPath} from './http/request.ts';
import type {Logger} from './log.ts';
import {callerString} from './text.ts';

export interface RequestGuardOptions {
  /** Serves every request that passes: tvm (src/http/app.ts). */
  readonly serve: RequestListener;
  /** Where refusals are audited. */
  readonly logger: Logger;
  /** Proxies in front of the function (config `trustedProxyHops`), for the audit's address. */
  readonly trustedProxyHops?: number;
  /** The body limit (default MAX_BODY_BYTES, tvm's own). */
  readonly maxBodyBytes?: number;
}

const INSTALLED = Symbol.for('tvm.requestGuard');

/**
 * Makes every server created from now on with `http.createServer` serve
 * `options.serve` behind the guard, in place of the listener it is given.
 * Idempotent; call it while functions-framework loads the function (src/main.ts).
 */
export function installRequestGuard(options: RequestGuardOptions): void {
  const target = http as typeof http & {[INSTALLED]?: true};
  if (target[INSTALLED]) return;
  const original = http.createServer;
  const patched = (...args: unknown[]): Server => {
    const i = args.findIndex(a => typeof a === 'function');
    if (i >= 0) args[i] = guardListener(options.serve, options);
    return (original as (...a: unknown[]) => Server).apply(http, args);
  };
  target.createServer = patched as typeof http.createServer;
  target[INSTALLED] = true;
}

/** `listener`, behind the guard. */
export function guardListener(
  listener: RequestListener,
  options: Omit<RequestGuardOptions, 'serve'>,
): RequestListener {
  const guard: Guard = {
    trail: createAuditTrail({
      logger: options.logger,
      monotonic: systemMonotonicClock,
    }),
    limit: options.maxBodyBytes ?? MAX_BODY_BYTES,
    hops: options.trustedProxyHops ?? 0,
  };
  return function (this: unknown, req, res) {
    guardRequest(req, res, guard, () => listener.call(this, req, res));
  };
}

interface Guard {
  readonly trail: AuditTrail;
  readonly limit: number;
  readonly hops: number;
}

type Refusal = {
  readonly code: Extract<
    TvmErrorCode,
    | 'ERR_INVALID_REQUEST'
    | 'ERR_NOT_FOUND'
    | 'ERR_PAYLOAD_TOO_LARGE'
    | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  >;
  /** To the caller. */
  readonly description: string;
  /** To the operator, in the audit line. */
  readonly detail: string;
};

/** Checks `req`; calls `pass` once its body is read and capped (`rawBody`), or refuses. */
function guardRequest(
  req: IncomingMessage & {rawBody?: Buffer},
  res: ServerResponse,
  guard: Guard,
  pass: () => void,
): void {
  const started = systemMonotonicClock.now();
  const {limit} = guard;
  const refusal = checkHead(req, limit);
  if (refusal) {
    refuse(req, res, guard, refusal, started);
    return;
  }
  if (!hasBody(req)) {
    req.rawBody = NO_BODY;
    pass();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      req.pause();
      refuse(req, res, guard, tooLarge(limit, 'read'), started);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (over) return;
    req.rawBody = Buffer.concat(chunks, size);
    pass();
  });
  // A client that goes away mid-body: nothing to answer, nothing for the framework.
  req.on('error', () => undefined);
}

/**
 * functions-framework's default ignored routes (server.js): it answers them with an
 * empty 404 before the function runs, matched as Express matches a mount path (any
 * case, the path itself or below it).
 */
const FRAMEWORK_ANSWERED = /^\/(?:favicon\.ico|robots\.txt)(?:\/|$)/i;

function checkHead(req: IncomingMessage, limit: number): Refusal | undefined {
  const path = targetPath(req.url);
  try {
    decodeURIComponent(path);
  } catch {
    return {
      code: 'ERR_INVALID_REQUEST',
      description: 'the request path is not valid percent-encoded UTF-8',
      detail: 'malformed percent-escape in the path',
    };
  }
  if (FRAMEWORK_ANSWERED.test(path)) {
    return {
      code: 'ERR_NOT_FOUND',
      description: 'no such route',
      detail: 'a path functions-framework would answer without the function',
    };
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return {
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      description: 'compressed request bodies are not accepted',
      detail: `Content-Encoding ${codingNames(encoding)} refused before reading the body`,
    };
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return tooLarge(limit, 'declared');
  }
  return undefined;
}

/**
 * The header's value for the operator when it is a list of coding names (`br`,
 * `gzip, x-custom`); anything else (it may be a credential pasted in the wrong place)
 * is not repeated.
 */
function codingNames(header: string): string {
  return /^[A-Za-z0-9-]{1,24}(\s*,\s*[A-Za-z0-9-]{1,24}){0,3}$/.test(
    header.trim(),
  )
    ? JSON.stringify(header.trim())
    : '(not a list of coding names; not logged)';
}

function tooLarge(limit: number, how: 'declared' | 'read'): Refusal {
  return {
    code: 'ERR_PAYLOAD_TOO_LARGE',
    description: `the body must not exceed ${limit} bytes`,
    detail:
      how === 'declared'
        ? `Content-Length over ${limit} bytes, refused before reading the body`
        : `body cut off after ${limit} bytes`,
  };
}

/** As body-parser decides it (type-is `hasBody`): a Transfer-Encoding or any Content-Length, `0` included. */
function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    req.headers['content-length'] !== undefined
  );
}

/**
 * Answers `refusal` as tvm answers it on that route (src/http/errors.ts: RFC 6749
 * §5.2 on /token and everything else, Google's envelope on the IAM-shaped routes),
 * closes the connection, audits it.
 */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  guard: Guard,
  refusal: Refusal,
  started: number,
): void {
  const error = new TvmError(refusal.code, refusal.description, {
    detail: refusal.detail,
  });
  const path = targetPath(req.url);
  const wire = wireError(error);
  const google =
    GENERATE_ACCESS_TOKEN_PATH.test(path) || GENERATE_ID_TOKEN_PATH.test(path);
  const status = google ? googleStatus(wire) : wire.status;
  const body = google
    ? {error: {code: status, message: refusal.description, status: wire.google}}
    : {error: wire.oauth, error_description: refusal.description};
  const audit = auditRefusal(guard, req, path, started, error, status);
  closeWithoutReading(req, res);
  if (!res.headersSent) {
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'X-Request-Id': audit,
      Connection: 'close',
    });
    res.end(JSON.stringify(body));
  }
}

/**
 * After a refusal the client may still be sending. Reading the rest (as Node does
 * before closing) reads whatever it sends; resetting the connection at once (as Node
 * does right after) can make the client's kernel drop our answer. So the answer says
 * `Connection: close`, and once it is out tvm stops reading, sends FIN, and resets the
 * connection LINGER_MS later: the client sees the answer and the end of the stream,
 * its writes meet full buffers, not tvm's memory. Node's server closes a connection
 * with `socket.destroySoon()` when it has one (node:_http_server resOnFinish); this
 * socket's is replaced.
 */
function closeWithoutReading(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
  req.on('error', () => undefined);
  // After Node's own 'finish' handler, which may have set the body to drain.
  res.once('finish', () => {
    req.removeAllListeners('data');
    req.pause();
  });
}

const LINGER_MS = 2000;

/** The body of a request that sends none. */
const NO_BODY = Buffer.alloc(0);

/**
 * The one place a guard refusal becomes an audit line: through src/audit.ts's trail,
 * as tvm's routes write theirs. Returns the request id.
 */
function auditRefusal(
  guard: Guard,
  req: IncomingMessage,
  path: string,
  started: number,
  error: TvmError,
  status: number,
): string {
  const trace = req.headers['x-cloud-trace-context'];
  const audit = guard.trail.begin({
    method: callerString(req.method) ?? 'UNKNOWN',
    path: callerString(path) ?? '/',
    remoteIp: clientAddress(req, guard.hops),
    userAgent: req.headers['user-agent'],
    traceContext: typeof trace === 'string' ? trace : undefined,
    startedAt: started,
  });
  guard.trail.deny(audit, status, error);
  return audit.requestId;
}
