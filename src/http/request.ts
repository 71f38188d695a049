/**
 * Reading requests: the body, size-capped; a token request (RFC 6749 §3.2) as
 * application/x-www-form-urlencoded or application/json with the same names, into a
 * map of single-valued parameters (repeated parameters are refused, RFC 6749 §3.2;
 * empty ones count as absent, §3.1); and what the audit records of the request.
 */
import type {Request, Response} from 'express';
import type {Audit, AuditTrail, RequestFacts} from '../audit.ts';
import {basicClientId} from '../auth/client-credentials.ts';
import {TvmError} from '../errors.ts';
import {callerString, safeName} from '../text.ts';

/**
 * Begins the audit record of `req` and names it in `X-Request-Id`, so a caller can
 * quote the request to the operator, who finds its record.
 */
export function beginAudit(
  trail: AuditTrail,
  req: Request,
  res: Response,
): Audit {
  const audit = trail.begin(requestFacts(req, res));
  res.setHeader('X-Request-Id', audit.requestId);
  // Who the request claims to be, until authentication says more.
  audit.client = callerString(basicClientId(req.headers.authorization));
  return audit;
}

/** What the audit records of `req`; `res.locals.startedAt` is stamped on arrival. */
function requestFacts(req: Request, res: Response): RequestFacts {
  const trace = req.headers['x-cloud-trace-context'];
  return {
    method: req.method,
    path: req.path,
    remoteIp: req.ip,
    userAgent: req.headers['user-agent'],
    traceContext: typeof trace === 'string' ? trace : undefined,
    startedAt: res.locals.startedAt as number,
  };
}

/** The request authenticated with HTTP Basic (RFC 7617). */
export function sentBasic(req: Request): boolean {
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
  req: Request,
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
  const body = bodyOf(req);
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

function refuseSecretsInUrl(req: Request): void {
  const q = req.originalUrl.indexOf('?');
  if (q < 0) return;
  const params = new URLSearchParams(req.originalUrl.slice(q + 1));
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
 * The raw body, at most MAX_BODY_BYTES. Behind functions-framework the body has already been read (its
 * `rawBody`); served any other way it is read here, capped.
 */
export async function readRawBody(req: Request): Promise<Buffer> {
  return bodyOf(req);
}

/** The raw body: at once when it has already been read, else read here. */
function bodyOf(req: Request): Buffer | Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) {
    throw new TvmError(
      'ERR_PAYLOAD_TOO_LARGE',
      `the body must not exceed ${MAX_BODY_BYTES} bytes`,
    );
  }
  const saved = (req as Request & {rawBody?: unknown}).rawBody;
  if (Buffer.isBuffer(saved)) return checkSize(saved);
  if (req.readableEnded || req.body !== undefined)
    return checkSize(Buffer.alloc(0));
  return readStream(req);
}

async function readStream(req: Request): Promise<Buffer> {
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
