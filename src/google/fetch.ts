/**
 * The fetch every Google call made through google-auth-library (gaxios) goes through:
 * Node's own, so gaxios does not load node-fetch and a web-streams polyfill at its first
 * request (about 20 ms of a cold start), with the two bounds node-fetch used to give:
 *
 * - an answer is read up to the call's `maxContentLength` (gaxios hands it on as
 *   `size`; DEFAULT_MAX_RESPONSE_BYTES when the call sets none), counted as it
 *   arrives, so a chunked answer cannot grow without bound, and the read stops there;
 * - no redirect is followed: a Google API that answers 3xx is an error, so a request
 *   carrying a token or an assertion is never re-sent to another place.
 *
 * An HTTP proxy, where one is needed, is Node's to use: NODE_USE_ENV_PROXY=1 with
 * HTTPS_PROXY / NO_PROXY (gaxios's own proxy agent applies to node-fetch only).
 */

/** The largest answer read from Google when the call names no limit. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** What gaxios adds to fetch's init (its prepared options). */
interface GaxiosInit extends RequestInit {
  readonly size?: number;
  readonly maxContentLength?: number;
}

/** Statuses whose Response may not carry a body (Fetch standard: null body status). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export async function fetchImplementation(
  input: Parameters<typeof fetch>[0],
  init?: Parameters<typeof fetch>[1],
): Promise<Response> {
  const extra = init as GaxiosInit | undefined;
  const limit =
    extra?.size || extra?.maxContentLength || DEFAULT_MAX_RESPONSE_BYTES;
  const res = await fetch(input, {...init, redirect: 'error'});
  if (!res.body || NULL_BODY.has(res.status)) return res;
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body.cancel().catch(() => undefined);
    throw tooLarge(limit);
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bounded = new Response(Buffer.concat(chunks), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
  Object.defineProperty(bounded, 'url', {value: res.url});
  return bounded;
}

function tooLarge(limit: number): Error {
  return Object.assign(
    new Error(`the answer is over the limit of ${limit} bytes`),
    {type: 'max-size'},
  );
}
