/**
 * The value every HTTP handler returns; `http.ts` is the only place that writes it to
 * the socket. Handlers stay pure functions of (request, state, clock).
 */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A JSON reply; token responses are never cacheable (RFC 6749 §5.1). */
export function json(status: number, value: unknown): Reply {
  return {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    },
    body: JSON.stringify(value),
  };
}

/** A plain-text reply. */
export function text(status: number, body: string): Reply {
  return {status, headers: {'content-type': 'text/plain; charset=utf-8'}, body};
}

/** A 200 whose body claims to be JSON but does not parse (the `malformed` fault). */
export function malformedJson(): Reply {
  return {
    status: 200,
    headers: {'content-type': 'application/json; charset=utf-8'},
    body: '{"access_token": "ya29.truncat',
  };
}
