/**
 * How tvm treats Google's answers: which failures are worth a retry, and retries with
 * jittered exponential backoff that never outlast the caller's deadline
 * (Google answering 5xx or 429, timing out, or resetting the connection). Turns every upstream failure into a TvmError: 503 with
 * Retry-After when a retry may help, 502 when Google refused.
 */
import type * as z from '../zod.ts';
import {TvmError} from '../errors.ts';
import {systemMonotonicClock} from '../clock.ts';

/** A failure talking to Google, classified. `detail` is for operators and holds no secret. */
export class UpstreamError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(message: string, retryable: boolean, status?: number) {
    super(message);
    this.name = new.target.name;
    this.retryable = retryable;
    this.status = status;
  }
}

/** HTTP statuses after which a retry may succeed (RFC 9110 and Google's guidance). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Classifies anything a Google client library threw. Gaxios errors carry `status`;
 * network errors carry a `code`; gRPC errors carry a numeric `code`.
 */
export function classify(e: unknown, what: string): UpstreamError {
  if (e instanceof UpstreamError) return e;
  const err = e as {
    status?: unknown;
    code?: unknown;
    name?: unknown;
    response?: {status?: unknown};
  };
  const status =
    typeof err?.status === 'number'
      ? err.status
      : typeof err?.response?.status === 'number'
        ? err.response.status
        : undefined;
  if (status !== undefined) {
    return new UpstreamError(
      `${what} answered HTTP ${status}`,
      isRetryableStatus(status),
      status,
    );
  }
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const name = typeof err?.name === 'string' ? err.name : undefined;
  return new UpstreamError(
    `${what} failed: ${code ?? name ?? 'unknown error'}`,
    true,
  );
}

/**
 * `classify(e, what)`, with `code` (what Google's error body names, never its prose)
 * added to the message for the operator when there is one.
 */
export function classifyWithCode(
  e: unknown,
  what: string,
  code: string | undefined,
): UpstreamError {
  const err = classify(e, what);
  return code
    ? new UpstreamError(`${err.message} (${code})`, err.retryable, err.status)
    : err;
}

/**
 * The JSON answer `text` of `who`, checked against `schema`; anything else is a
 * non-retryable UpstreamError (never a half-valid answer).
 */
export function parseAnswer<T>(
  text: string,
  schema: z.ZodMiniType<T>,
  who: string,
): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError(`${who} answered a body that is not JSON`, false);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamError(`${who} answered an unexpected body shape`, false);
  }
  return parsed.data;
}

/** The JSON body of a failed request's answer, if it has one. */
function errorBody(e: unknown): unknown {
  const data = (e as {response?: {data?: unknown}})?.response?.data;
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** Google's canonical status name (`PERMISSION_DENIED`) from an error body, if any. */
export function googleStatus(e: unknown): string | undefined {
  const status = (errorBody(e) as {error?: {status?: unknown}})?.error?.status;
  return typeof status === 'string' && /^[A-Z_]{1,64}$/.test(status)
    ? status
    : undefined;
}

/**
 * The OAuth 2.0 `error` code (RFC 6749 §5.2) of a failed request's body, if it has one
 * of the expected shape: a short lower-case word, never the description (which could
 * quote the request).
 */
export function oauthErrorCode(e: unknown): string | undefined {
  const code = (errorBody(e) as {error?: unknown})?.error;
  return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code)
    ? code
    : undefined;
}

/** Longest single upstream attempt; several fit in a caller's deadline. */
export const ATTEMPT_TIMEOUT_MS = 5_000;

/**
 * Deadlines are in monotonic milliseconds (`systemMonotonicClock`): they measure real
 * elapsed time, which the injected business clock (token expiry) does not.
 */
export const monotonicNow = (): number => systemMonotonicClock.now();

export interface RetryOptions {
  /** Monotonic ms (`monotonicNow()`) by which the whole operation must be over. */
  deadline: number;
  /** Names the upstream in messages. */
  what: string;
  /** First backoff; doubles each attempt, full jitter. */
  baseDelayMs?: number;
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Source of monotonic time (default `monotonicNow`). */
  now?: () => number;
}

const defaultSleep = (ms: number) =>
  new Promise<void>(resolve => setTimeout(resolve, ms).unref());

/**
 * Runs `attempt(timeoutMs)` until it succeeds, fails for good, or the deadline leaves
 * no room for another try. Each attempt gets the time left as its own timeout.
 * Throws TvmError: ERR_UPSTREAM_REFUSED (502) or ERR_UPSTREAM_UNAVAILABLE (503).
 */
export async function withRetry<T>(
  attempt: (timeoutMs: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const {deadline, what} = options;
  const now = options.now ?? monotonicNow;
  const base = options.baseDelayMs ?? 100;
  const maxAttempts = options.maxAttempts ?? 4;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  let last: UpstreamError | undefined;
  for (let i = 0; i < maxAttempts; i++) {
    const left = deadline - now();
    if (left <= 0) break;
    try {
      // The attempt's own timeout may not hold (a client library that sets none): the
      // deadline is enforced here too, whatever the attempt does.
      return await within(attempt(Math.floor(left)), left, what);
    } catch (e) {
      // Already decided further down (e.g. a key read inside a mint): keep it.
      if (e instanceof TvmError) throw e;
      last = classify(e, what);
      if (!last.retryable) throw refused(last);
    }
    const backoff = Math.round(random() * base * 2 ** i);
    if (now() + backoff >= deadline) break;
    await sleep(backoff);
  }
  throw unavailable(
    last ?? new UpstreamError(`${what}: deadline exceeded`, true),
  );
}

/**
 * `p`, or a retryable UpstreamError once `ms` have passed. The abandoned promise's
 * outcome is still observed by the race, so it can never become an unhandled rejection.
 */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UpstreamError(`${what}: no answer within the deadline`, true),
        ),
      Math.max(0, ms),
    );
    timer.unref();
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/** Google said no (4xx other than 408/429): a retry will not help. */
export function refused(e: UpstreamError): TvmError {
  return new TvmError(
    'ERR_UPSTREAM_REFUSED',
    'Google refused to issue the token; the operator has been told',
    {detail: e.message, cause: e},
  );
}

/** Google failed or was too slow: the caller may retry shortly. */
export function unavailable(e: UpstreamError): TvmError {
  return new TvmError(
    'ERR_UPSTREAM_UNAVAILABLE',
    'Google is temporarily unavailable; retry later',
    {detail: e.message, retryAfterSeconds: 2, cause: e},
  );
}
