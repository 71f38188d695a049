/**
 * The Fetch standard's `Headers` and `Response`, as the built function gives them to
 * the code it bundles (google-auth-library, gaxios, gcp-metadata, jose, tvm's own),
 * in place of Node's globals (scripts/build/build.ts injects this module's exports
 * for those names).
 *
 * Why: Node's `Headers`, `Response`, `Request` and `FormData` are undici's. The first
 * touch of any of them loads all of undici (its HTTP/1 and HTTP/2 clients, WebSocket,
 * worker_threads, web streams): about 60 ms of CPU, on every cold start, because
 * gaxios builds a `Headers` for each request. tvm never sends a request through
 * undici (src/google/fetch.ts sends over node:http; the answer is read whole, within
 * its bound, before a `Response` is made of it), so the classes only carry headers
 * and a body that is already in memory. Run from the sources (tests, `npm start`),
 * the same code meets Node's own classes; the tests of this module hold these to the
 * behaviour it relies on, and the bundle's tests run every Google call through them.
 *
 * What they do, per the Fetch standard, for what tvm and its libraries use:
 * - `Headers`: names are checked and lower-cased, values checked and stripped of
 *   leading and trailing HTTP whitespace, as Node's HTTP client checks them (a
 *   TypeError otherwise; stricter than undici on control characters in a value, which
 *   Node's client would refuse to send); repeated values are joined with ", " except Set-Cookie,
 *   which `getSetCookie()` lists; iteration is in sorted name order.
 * - `Response`: a status in 200-599 (a RangeError otherwise), no body with 204, 205
 *   or 304; a body given as a string, bytes or URLSearchParams, read once through
 *   `text()`, `json()`, `arrayBuffer()`, `bytes()` or `blob()`, or as a stream.
 * - `Request` and `FormData` exist only so that `instanceof` checks in the bundled
 *   libraries have something to test against without loading undici: tvm builds
 *   neither, and constructing one throws.
 */
import {validateHeaderName, validateHeaderValue} from 'node:http';

type Init =
  | Headers
  | Iterable<readonly [string, string]>
  | Readonly<Record<string, string>>;

interface Options {
  readonly status?: number;
  readonly statusText?: string;
  readonly headers?: Init;
}

const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

function headerName(name: unknown): string {
  const n = String(name);
  validateHeaderName(n);
  return n.toLowerCase();
}

function headerValue(name: string, value: unknown): string {
  const v = String(value).replace(HTTP_WHITESPACE, '');
  validateHeaderValue(name, v);
  return v;
}

export class Headers {
  /** Lower-cased name → value (repeated values joined), Set-Cookie aside. */
  readonly #fields = new Map<string, string>();
  readonly #cookies: string[] = [];

  constructor(init?: Init | null) {
    if (init === undefined) return;
    if (
      init === null ||
      (typeof init !== 'object' && typeof init !== 'function')
    ) {
      throw new TypeError(
        'Headers: init must be an object or a sequence of pairs',
      );
    }
    if (Symbol.iterator in init) {
      for (const pair of init as Iterable<unknown>) {
        const items =
          pair !== null && typeof pair === 'object' && Symbol.iterator in pair
            ? [...(pair as Iterable<unknown>)]
            : [];
        if (items.length !== 2) {
          throw new TypeError(
            'Headers: each header must be a [name, value] pair',
          );
        }
        this.append(items[0] as string, items[1]);
      }
      return;
    }
    const record = init as Record<string, unknown>;
    for (const name of Object.keys(record)) this.append(name, record[name]);
  }

  append(name: string, value: unknown): void {
    const n = headerName(name);
    const v = headerValue(n, value);
    if (n === 'set-cookie') {
      this.#cookies.push(v);
      return;
    }
    const old = this.#fields.get(n);
    this.#fields.set(n, old === undefined ? v : `${old}, ${v}`);
  }

  set(name: string, value: unknown): void {
    const n = headerName(name);
    const v = headerValue(n, value);
    if (n === 'set-cookie') this.#cookies.splice(0, Infinity, v);
    else this.#fields.set(n, v);
  }

  get(name: string): string | null {
    const n = headerName(name);
    if (n === 'set-cookie') {
      return this.#cookies.length > 0 ? this.#cookies.join(', ') : null;
    }
    return this.#fields.get(n) ?? null;
  }

  has(name: string): boolean {
    const n = headerName(name);
    return n === 'set-cookie' ? this.#cookies.length > 0 : this.#fields.has(n);
  }

  delete(name: string): void {
    const n = headerName(name);
    if (n === 'set-cookie') this.#cookies.length = 0;
    else this.#fields.delete(n);
  }

  getSetCookie(): string[] {
    return [...this.#cookies];
  }

  forEach(
    callback: (value: string, name: string, headers: Headers) => void,
    thisArg?: unknown,
  ): void {
    for (const [name, value] of this.entries()) {
      callback.call(thisArg, value, name, this);
    }
  }

  /** Sorted by name; each Set-Cookie a pair of its own (the standard's order). */
  *entries(): IterableIterator<[string, string]> {
    const names = [...this.#fields.keys()];
    if (this.#cookies.length > 0) names.push('set-cookie');
    names.sort();
    const pairs: [string, string][] = [];
    for (const name of names) {
      if (name === 'set-cookie') {
        for (const cookie of this.#cookies) pairs.push([name, cookie]);
      } else {
        pairs.push([name, this.#fields.get(name)!]);
      }
    }
    yield* pairs;
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Headers';
  }
}

/** Statuses whose Response may not have a body, among those a Response may have. */
const NULL_BODY = new Set([204, 205, 304]);
/** The reason-phrase production of RFC 9112 (what the standard allows a statusText). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

type Body = string | ArrayBuffer | ArrayBufferView | URLSearchParams;

export class Response {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly type = 'default';
  readonly url = '';
  readonly redirected = false;
  #bytes: Uint8Array | null;
  #used = false;
  #stream: ReadableStream<Uint8Array> | undefined;

  constructor(body?: Body | null, options?: Options | null) {
    const init = options ?? {};
    // The standard's `unsigned short`: truncated, modulo 2^16.
    const n = Math.trunc(Number(init.status === undefined ? 200 : init.status));
    const status = Number.isFinite(n) ? ((n % 65536) + 65536) % 65536 : 0;
    if (status < 200 || status > 599) {
      throw new RangeError(`Response: status ${status} is outside 200-599`);
    }
    const statusText = String(init.statusText ?? '');
    if (!REASON_PHRASE.test(statusText)) {
      throw new TypeError('Response: invalid statusText');
    }
    this.status = status;
    this.statusText = statusText;
    this.headers = new Headers(init.headers);
    if (body === undefined || body === null) {
      this.#bytes = null;
      return;
    }
    if (NULL_BODY.has(status)) {
      throw new TypeError(`Response: status ${status} cannot have a body`);
    }
    let type: string | undefined;
    if (typeof body === 'string') {
      this.#bytes = Buffer.from(body, 'utf8');
      type = 'text/plain;charset=UTF-8';
    } else if (body instanceof URLSearchParams) {
      this.#bytes = Buffer.from(body.toString(), 'utf8');
      type = 'application/x-www-form-urlencoded;charset=UTF-8';
    } else if (body instanceof ArrayBuffer) {
      this.#bytes = new Uint8Array(body.slice(0));
    } else if (ArrayBuffer.isView(body)) {
      this.#bytes = new Uint8Array(
        body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength),
      );
    } else {
      throw new TypeError(
        'Response: only a string, bytes or URLSearchParams body is supported',
      );
    }
    if (type !== undefined && !this.headers.has('content-type')) {
      this.headers.set('content-type', type);
    }
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** The body as a stream, made on first use; reading it uses the body up. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#bytes === null) return null;
    if (this.#stream === undefined) {
      const bytes = this.#bytes;
      const used = () => {
        this.#used = true;
      };
      this.#stream = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            used();
            controller.enqueue(new Uint8Array(bytes));
            controller.close();
          },
          cancel() {
            used();
          },
        },
        {highWaterMark: 0},
      );
    }
    return this.#stream;
  }

  /**
   * The body's bytes (a copy), once; a TypeError the second time, as fetch's. No
   * body reads as empty, as often as asked.
   */
  #consume(): Uint8Array {
    if (this.#bytes === null) return new Uint8Array(0);
    if (this.#used || this.#stream?.locked) {
      throw new TypeError(
        'Response: body is unusable: it has already been read',
      );
    }
    this.#used = true;
    return new Uint8Array(this.#bytes);
  }

  async bytes(): Promise<Uint8Array> {
    return this.#consume();
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#consume().buffer as ArrayBuffer;
  }

  async text(): Promise<string> {
    // UTF-8 decode: a leading BOM dropped, malformed bytes replaced (the standard's).
    return new TextDecoder().decode(this.#consume());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  async blob(): Promise<Blob> {
    const type = this.headers.get('content-type') ?? '';
    return new Blob([this.#consume() as Uint8Array<ArrayBuffer>], {type});
  }

  async formData(): Promise<never> {
    throw new TypeError('Response: formData() is not supported');
  }

  clone(): Response {
    if (this.#used || this.#stream?.locked) {
      throw new TypeError(
        'Response: body is unusable: it has already been read',
      );
    }
    const copy = new Response(null, {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
    });
    copy.#bytes = this.#bytes;
    return copy;
  }

  get [Symbol.toStringTag](): string {
    return 'Response';
  }
}

/** Not built by tvm: what the bundled libraries' `instanceof Request` tests against. */
export class Request {
  constructor() {
    throw new TypeError('Request is not available in this build');
  }
}

/** Not built by tvm: what the bundled libraries' `instanceof FormData` tests against. */
export class FormData {
  constructor() {
    throw new TypeError('FormData is not available in this build');
  }
}
