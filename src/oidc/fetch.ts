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

export interface FetchGateOptions {
  /** Epoch milliseconds now. */
  readonly now: () => number;
  /** Wait after the first failure of a URL; doubled per further failure. */
  readonly backoffMs: number;
  /** Longest wait between two fetches of a failing URL. */
  readonly maxBackoffMs: number;
  /** Most URLs remembered (default 1000); the oldest is forgotten first. */
  readonly maxEntries?: number;
}

/**
 * Keeps one upstream URL from being hammered by the requests that depend on it: at
 * most one fetch of a URL in flight (concurrent callers share its outcome), and after
 * a failure no new fetch of that URL until a backoff has passed — `backoffMs`, doubling
 * with each consecutive failure, at most `maxBackoffMs`; until then callers get the
 * remembered error at once. A success forgets the failures. So a URL that keeps
 * failing is fetched at most once per backoff, however many requests need it.
 */
export interface FetchGate {
  /** Runs `attempt` for `key` under the gate; `attempt` throws to count a failure. */
  run<T>(key: string, attempt: () => Promise<T>): Promise<T>;
}

interface GateEntry {
  inflight: Promise<unknown> | undefined;
  failures: number;
  retryAt: number;
  error: unknown;
}

/** Creates a gate (one per key resolver: its state is that resolver's). */
export function createFetchGate(options: FetchGateOptions): FetchGate {
  const entries = new Map<string, GateEntry>();
  const maxEntries = options.maxEntries ?? 1000;
  const entryFor = (key: string): GateEntry => {
    let e = entries.get(key);
    if (!e) {
      if (entries.size >= maxEntries) {
        for (const [k, v] of entries) {
          if (!v.inflight) {
            entries.delete(k);
            break;
          }
        }
      }
      e = {inflight: undefined, failures: 0, retryAt: 0, error: undefined};
      entries.set(key, e);
    }
    return e;
  };
  return {
    run<T>(key: string, attempt: () => Promise<T>): Promise<T> {
      const e = entryFor(key);
      if (e.inflight) return e.inflight as Promise<T>;
      if (e.failures > 0 && options.now() < e.retryAt) {
        return Promise.reject(e.error);
      }
      const p = attempt().then(
        value => {
          e.inflight = undefined;
          e.failures = 0;
          e.error = undefined;
          return value;
        },
        (error: unknown) => {
          e.inflight = undefined;
          e.failures++;
          e.error = error;
          e.retryAt =
            options.now() +
            Math.min(
              options.backoffMs * 2 ** Math.min(e.failures - 1, 30),
              options.maxBackoffMs,
            );
          throw error;
        },
      );
      e.inflight = p;
      return p;
    },
  };
}
