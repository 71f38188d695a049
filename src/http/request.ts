/**
 * Reading requests: what every route reads once on arrival (`Exchange`: the path, the
 * client's address); the body, size-capped; a token request (RFC 6749 §3.2) as
 * application/x-www-form-urlencoded or application/json with the same names, into a
 * map of single-valued parameters (repeated parameters are refused, RFC 6749 §3.2;
 * empty ones count as absent, §3.1); and what the audit records of the request.
 */
import type {IncomingMessage, ServerResponse} from 'node:http';
import type {Audit, AuditTrail} from '../audit.ts';
import {basicClientId} from '../auth/client-credentials.ts';
import {TvmError} from '../errors.ts';
import {callerString, safeName} from '../text.ts';

/**
 * One request as tvm's routes see it: Node's own request and response, and what
 * src/http/app.ts read of them once on arrival.
 */
export interface Exchange {
  /** `rawBody`: the body, when already read (src/request-guard.ts reads every one). */
  readonly req: IncomingMessage & {rawBody?: Buffer};
  readonly res: ServerResponse;
  /** The path, without its query (`targetPath`). */
  readonly path: string;
  /** The client's address (`clientAddress`). */
  readonly ip: string;
  /** Monotonic ms at which the request arrived; latency in the audit is counted from here. */
  readonly startedAt: number;
}

/**
 * The path of a request target without its query or fragment: origin-form (`/token?x`) as it is,
 * absolute-form (`http://host/token`, RFC 9112 §3.2.2) its path, as Express reads it.
 */
export function targetPath(url = '/'): string {
  if (url.startsWith('/')) {
    const end = url.search(/[?#]/);
    return end < 0 ? url : url.slice(0, end);
  }
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/.exec(url);
  return m?.[1] ?? '/';
}

/**
 * The client's address as Express computes it with `trust proxy` = `hops`: the entry
 * the last trusted hop appended to X-Forwarded-For, never one the caller wrote
 * (express-rate-limit #134, #363); the peer's address when no proxy is trusted.
 */
export function clientAddress(req: IncomingMessage, hops: number): string {
  const peer = req.socket.remoteAddress ?? '';
  const forwarded = req.headers['x-forwarded-for'];
  if (hops === 0 || typeof forwarded !== 'string') return peer;
  // As Express's `forwarded` reads the header: entries between commas, spaces around
  // them dropped, empty ones skipped.
  const chain = [peer];
  for (const entry of forwarded.split(',').reverse()) {
    const address = entry.replace(/^ +| +$/g, '');
    if (address !== '') chain.push(address);
  }
  return chain[Math.min(hops, chain.length - 1)]!;
}

/**
 * Begins the audit record of `x` and names it in `X-Request-Id`, so a caller can
 * quote the request to the operator, who finds its record.
 */
export function beginAudit(trail: AuditTrail, x: Exchange): Audit {
  const {req} = x;
  const trace = req.headers['x-cloud-trace-context'];
  const audit = trail.begin({
    method: req.method ?? '',
    path: x.path,
    remoteIp: x.ip,
    userAgent: req.headers['user-agent'],
    traceContext: typeof trace === 'string' ? trace : undefined,
    startedAt: x.startedAt,
  });
  x.res.setHeader('X-Request-Id', audit.requestId);
  // Who the request claims to be, until authentication says more.
  audit.client = callerString(basicClientId(req.headers.authorization));
  return audit;
}

/** The request authenticated with HTTP Basic (RFC 7617). */
export function sentBasic(req: IncomingMessage): boolean {
  return /^Basic\b/i.test(req.headers.authorization ?? '');
}

/** Token requests are a few hundred bytes; assertions and subject tokens a few KB. */
export const MAX_BODY_BYTES = 16 * 1024;
const MAX_PARAMS = 32;

/** Parameters that carry secrets: never accepted in the URL. */
const URL_FORBIDDEN = new Set([
  'client_secret',
  'client_assertion',
  'subject_token',
  'actor_token',
  'access_token',
]);

/**
 * Parses the token request body into parameters. Throws TvmError (400, 413, 415).
 * At once when the body has already been read (functions-framework reads it before
 * tvm sees the request); a promise only when it must still be read here.
 */
export function readTokenParams(
  req: Exchange['req'],
): ReadonlyMap<string, string> | Promise<ReadonlyMap<string, string>> {
  refuseSecretsInUrl(req);
  const type = mediaType(req.headers['content-type']);
  if (
    type !== 'application/x-www-form-urlencoded' &&
    type !== 'application/json'
  ) {
    throw new TvmError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      'the body must be application/x-www-form-urlencoded or application/json',
    );
  }
  const charset = /;\s*charset=("?)([^";]+)\1/i.exec(
    req.headers['content-type'] ?? '',
  )?.[2];
  if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
    throw new TvmError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8');
  }
  const body = readRawBody(req);
  return Buffer.isBuffer(body)
    ? parseBody(type, body)
    : body.then(b => parseBody(type, b));
}

const utf8 = new TextDecoder('utf-8', {fatal: true, ignoreBOM: false});

function parseBody(type: string, body: Buffer): ReadonlyMap<string, string> {
  let decoded: string;
  try {
    decoded = utf8.decode(body);
  } catch {
    throw new TvmError('ERR_INVALID_REQUEST', 'the body is not valid UTF-8');
  }
  return type === 'application/json' ? parseJson(decoded) : parseForm(decoded);
}

function refuseSecretsInUrl(req: IncomingMessage): void {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of params.keys()) {
    if (URL_FORBIDDEN.has(name)) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'credentials must not be sent in the URL',
      );
    }
  }
  throw new TvmError(
    'ERR_INVALID_REQUEST',
    'token request parameters belong in the body',
  );
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * The raw body, at most MAX_BODY_BYTES: at once when it has already been read (by
 * src/request-guard.ts, or by functions-framework's parsers, which keep it as
 * `rawBody` too), else read here, capped.
 */
export function readRawBody(req: Exchange['req']): Buffer | Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) {
    throw new TvmError(
      'ERR_PAYLOAD_TOO_LARGE',
      `the body must not exceed ${MAX_BODY_BYTES} bytes`,
    );
  }
  const saved = req.rawBody;
  if (Buffer.isBuffer(saved)) return checkSize(saved);
  if (req.readableEnded) return Buffer.alloc(0);
  return readStream(req);
}

async function readStream(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new TvmError(
        'ERR_PAYLOAD_TOO_LARGE',
        `the body must not exceed ${MAX_BODY_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function checkSize(b: Buffer): Buffer {
  if (b.length > MAX_BODY_BYTES) {
    throw new TvmError(
      'ERR_PAYLOAD_TOO_LARGE',
      `the body must not exceed ${MAX_BODY_BYTES} bytes`,
    );
  }
  return b;
}

function parseForm(text: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(text)) {
    add(out, seen, name, value);
  }
  return out;
}

function parseJson(text: string): ReadonlyMap<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TvmError('ERR_INVALID_REQUEST', 'the body is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'the JSON body must be an object',
    );
  }
  // RFC 6749 §3.2 refuses repeated parameters, as the form parser does.
  refuseRepeatedMembers(text, 'parameter');
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(json)) {
    if (value === null) continue;
    if (typeof value === 'number' && Number.isFinite(value)) {
      add(out, seen, name, String(value));
    } else if (typeof value === 'string') {
      add(out, seen, name, value);
    } else {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `parameter ${safeName(name)} must be a string`,
      );
    }
  }
  return out;
}

function add(
  out: Map<string, string>,
  seen: Set<string>,
  name: string,
  value: string,
): void {
  if (seen.has(name)) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `parameter ${safeName(name)} is repeated`,
    );
  }
  seen.add(name);
  if (seen.size > MAX_PARAMS) {
    throw new TvmError('ERR_INVALID_REQUEST', 'too many parameters');
  }
  if (value !== '') out.set(name, value);
}

/**
 * Refuses a JSON object `text` (already accepted by JSON.parse) that repeats a member
 * name at its top level: JSON.parse keeps the last of repeated names silently, so two
 * parsers could read two different requests from one body.
 */
export function refuseRepeatedMembers(
  text: string,
  what: 'parameter' | 'field',
): void {
  const names = topLevelKeys(text);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      `${what} ${safeName(repeated)} is repeated`,
    );
  }
}

/**
 * The member names of the top level of `text`, in order, repeats included. Only for
 * text JSON.parse has accepted as an object; written by hand because JSON.parse hides
 * repeats and a full second parser is not needed to see them.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey)
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}
