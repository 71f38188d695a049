/**
 * The fetch every Google call made through google-auth-library (gaxios) goes through:
 * a `fetch`-shaped function over Node's own `node:http` / `node:https` clients (gaxios's
 * documented `fetchImplementation` seam). Not Node's global fetch: its HTTP engine
 * compiles a WebAssembly parser and builds a connection dispatcher at its first
 * request, about 30 ms of every cold start spent before the first token; Node's http
 * client parses natively and is already loaded. gaxios still hands over, and receives,
 * the standard `Headers` and `Response`.
 *
 * Bounds, as a security-minded client keeps them:
 *
 * - an answer is read up to the call's `maxContentLength` (gaxios hands it on as
 *   `size`; DEFAULT_MAX_RESPONSE_BYTES when the call sets none), counted as it
 *   arrives, so a chunked answer cannot grow without bound, and the read stops there;
 *   a declared Content-Length over it is refused before any of the body is read;
 * - no redirect is followed: a redirect answer is an error, so a request carrying a
 *   token or an assertion is never re-sent to another place;
 * - no compression is asked for, and an encoded answer (which Google sends only when
 *   asked) is refused rather than handed on undecoded;
 * - the call's AbortSignal (gaxios's timeout) ends the request and the read, failing
 *   with the signal's reason, as fetch does; and whatever the call asks, no request
 *   lasts over MAX_REQUEST_MS (Node's http client has no deadline of its own, and the
 *   metadata server's token is asked for with none on Cloud Functions: one request
 *   that never ended would hold every later token refresh, which share it);
 * - a request that ends without an answer (the connection closed, or switched to
 *   another protocol) fails instead of waiting forever;
 * - only http: and https: URLs; https verifies the server's certificate (Node's
 *   default, never turned off here).
 *
 * An HTTP proxy, where one is needed, is Node's to use: NODE_USE_ENV_PROXY=1 with
 * HTTPS_PROXY / NO_PROXY applies to Node's global agents, which these requests use.
 */
import {request as httpRequest, type IncomingMessage} from 'node:http';
import {request as httpsRequest} from 'node:https';

/** The largest answer read from Google when the call names no limit. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** The longest any request may take, answer read, whatever its own timeout. */
export const MAX_REQUEST_MS = 30_000;

/** What gaxios adds to fetch's init (its prepared options). */
interface GaxiosInit extends RequestInit {
  readonly size?: number;
  readonly maxContentLength?: number;
}

/** Statuses whose Response may not carry a body (Fetch standard: null body status). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** The Fetch standard's redirect statuses. */
const REDIRECT = new Set([301, 302, 303, 307, 308]);

type Fetch = (
  input: Parameters<typeof fetch>[0],
  init?: Parameters<typeof fetch>[1],
) => Promise<Response>;

/** The fetch of every Google call (`boundedFetch` with the default deadline). */
export const fetchImplementation: Fetch = boundedFetch(MAX_REQUEST_MS);

/** The fetch described above, no request lasting over `maxRequestMs`. */
export function boundedFetch(maxRequestMs: number): Fetch {
  return (input, init) => send(input, init, maxRequestMs);
}

function send(
  input: Parameters<typeof fetch>[0],
  init: Parameters<typeof fetch>[1],
  maxRequestMs: number,
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const extra = init as GaxiosInit | undefined;
    const limit =
      extra?.size || extra?.maxContentLength || DEFAULT_MAX_RESPONSE_BYTES;
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) return reject(signal.reason);
    let url: URL;
    let body: {bytes: Buffer; type: string} | undefined;
    try {
      if (typeof input !== 'string' && !(input instanceof URL)) {
        // gaxios hands over a URL; a Request's own method, headers and body would
        // be lost here.
        throw new TypeError('fetch: a Request is not accepted, only a URL');
      }
      url = new URL(input);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new TypeError(`fetch: unsupported URL scheme ${url.protocol}`);
      }
      body = requestBody(init?.body);
    } catch (e) {
      return reject(e);
    }
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      if (name !== 'accept-encoding') headers[name] = value;
    });
    if (body) {
      // As fetch does: the body's own type unless the caller named one.
      if (body.type && !headers['content-type']) {
        headers['content-type'] = body.type;
      }
      headers['content-length'] = String(body.bytes.length);
    }

    const method = (init?.method ?? 'GET').toUpperCase();
    let settled = false;
    const done = () => {
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: unknown) => {
      if (settled) return;
      done();
      req.destroy();
      reject(e);
    };
    const onAbort = () => fail(signal!.reason);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {method, headers});
    const deadline = setTimeout(
      () =>
        fail(
          new DOMException(
            `fetch: no answer within ${maxRequestMs} ms`,
            'TimeoutError',
          ),
        ),
      maxRequestMs,
    );
    signal?.addEventListener('abort', onAbort, {once: true});
    req.once('error', fail);
    // After an answer's end this does nothing; before one (the connection closed, or
    // upgraded to another protocol, which Node reports by closing only), it fails.
    req.once('close', () =>
      fail(new TypeError('fetch: the connection closed without an answer')),
    );
    req.once('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (REDIRECT.has(status)) {
        return fail(new TypeError('fetch: a redirect is not followed'));
      }
      const encoding = res.headers['content-encoding']?.toLowerCase();
      if (encoding && encoding !== 'identity') {
        return fail(new TypeError('fetch: an encoded answer is refused'));
      }
      // A HEAD's or a null-body status's Content-Length is no body to read.
      const bodyless = method === 'HEAD' || NULL_BODY.has(status);
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (!bodyless && declared > limit) return fail(tooLarge(limit));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) return fail(tooLarge(limit));
        chunks.push(chunk);
      });
      res.once('error', fail);
      res.once('aborted', () => fail(new TypeError('fetch: answer cut off')));
      res.once('end', () => {
        if (settled) return;
        done();
        try {
          const answer = new Response(
            bodyless ? null : Buffer.concat(chunks, size),
            {
              status,
              statusText: res.statusMessage ?? '',
              headers: answerHeaders(res.rawHeaders),
            },
          );
          Object.defineProperty(answer, 'url', {value: url.href});
          resolve(answer);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.end(body?.bytes);
  });
}

/**
 * The request body gaxios prepared (text, bytes or form parameters; streams, blobs and
 * multipart forms are refused: no call of tvm's sends one), with
 * the Content-Type fetch gives each kind when the caller names none (Fetch standard,
 * "extract a body"): google-auth-library's JWT client relies on it for its form.
 */
function requestBody(
  body: RequestInit['body'],
): {bytes: Buffer; type: string} | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    return {bytes: Buffer.from(body, 'utf8'), type: 'text/plain;charset=UTF-8'};
  }
  if (body instanceof URLSearchParams) {
    return {
      bytes: Buffer.from(body.toString()),
      type: 'application/x-www-form-urlencoded;charset=UTF-8',
    };
  }
  if (body instanceof ArrayBuffer) return {bytes: Buffer.from(body), type: ''};
  if (ArrayBuffer.isView(body)) {
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return {bytes, type: ''};
  }
  throw new TypeError('fetch: unsupported request body');
}

function answerHeaders(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    headers.append(raw[i]!, raw[i + 1]!);
  }
  return headers;
}

function tooLarge(limit: number): Error {
  return Object.assign(
    new Error(`the answer is over the limit of ${limit} bytes`),
    {type: 'max-size'},
  );
}
