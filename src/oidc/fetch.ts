/**
 * Bounded HTTP GET for discovery documents and JWK Sets: a timeout, a response size
 * cap, and no redirects (a redirect could move the key fetch to a host the issuer does
 * not control). The fetch implementation is injected (tests serve fake issuers on
 * loopback behind it; production passes the global fetch).
 */

/** The subset of fetch tvm uses. */
export type FetchLike = (
  url: string | URL,
  init?: RequestInit,
) => Promise<Response>;

export interface FetchBounds {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** Default bounds: JWK Sets are a few KB; issuers answer in well under a second. */
export const DEFAULT_FETCH_BOUNDS: FetchBounds = Object.freeze({
  timeoutMs: 5000,
  maxBytes: 256 * 1024,
});

/** Thrown for a redirect, an oversized answer, a timeout or a network failure. */
export class FetchRefused extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * GETs `url` within `bounds` and returns a Response whose body is fully read (at most
 * maxBytes). Any 3xx is refused; other statuses are returned for the caller to judge.
 */
export async function fetchBounded(
  fetchImpl: FetchLike,
  url: string,
  bounds: FetchBounds,
  init: RequestInit = {},
): Promise<Response> {
  const timeout = AbortSignal.timeout(bounds.timeoutMs);
  const signal = init.signal
    ? AbortSignal.any([init.signal, timeout])
    : timeout;
  let res: Response;
  try {
    res = await fetchImpl(url, {
      ...init,
      method: 'GET',
      redirect: 'manual',
      signal,
    });
  } catch (e) {
    throw new FetchRefused(timeout.aborted ? 'timed out' : 'network error', {
      cause: e,
    });
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    throw new FetchRefused(`redirect (${res.status}) refused`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > bounds.maxBytes) {
    await res.body?.cancel();
    throw new FetchRefused(`answer larger than ${bounds.maxBytes} bytes`);
  }
  const body = await readCapped(res, bounds.maxBytes, timeout);
  return new Response(body, {
    status: res.status,
    headers: {'content-type': res.headers.get('content-type') ?? ''},
  });
}

async function readCapped(
  res: Response,
  max: number,
  timeout: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      size += value.length;
      if (size > max) {
        await reader.cancel();
        throw new FetchRefused(`answer larger than ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof FetchRefused) throw e;
    throw new FetchRefused(timeout.aborted ? 'timed out' : 'read failed', {
      cause: e,
    });
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
