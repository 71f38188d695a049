/**
 * The load generator of `npm run bench`, in a process of its own so it never shares an
 * event loop with a server or the emulator: autocannon against one URL, as the job
 * (JSON, argv[2]) says, and one JSON line of results on stdout.
 *
 * A job sends either one fixed request, a list of requests each connection cycles
 * through (many clients), or bodies read from a file, each used once (fresh client
 * assertions: a `jti` is accepted only once).
 */
import {readFileSync} from 'node:fs';
import autocannon from 'autocannon';

export interface LoadJob {
  readonly url: string;
  readonly connections: number;
  /** Seconds of load; or `amount` requests. */
  readonly duration?: number;
  readonly amount?: number;
  readonly headers: Record<string, string>;
  /** One body for every request. */
  readonly body?: string;
  /** Per-request Authorization headers, cycled through (many clients). */
  readonly authorizations?: readonly string[];
  /** A file of bodies, one a line, each sent once. */
  readonly bodiesFile?: string;
}

export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Answers other than 200, and transport errors. */
  readonly errors: number;
}

const job = JSON.parse(process.argv[2]!) as LoadJob;

const bodies = job.bodiesFile
  ? readFileSync(job.bodiesFile, 'utf8').split('\n').filter(Boolean)
  : undefined;
let next = 0;

const request: autocannon.Request = {method: 'POST', path: '/token'};
if (bodies) {
  request.setupRequest = req => ({
    ...req,
    body: bodies[next++ % bodies.length],
  });
} else if (job.authorizations) {
  const auth = job.authorizations;
  request.setupRequest = req => ({
    ...req,
    headers: {...req.headers, authorization: auth[next++ % auth.length]!},
  });
}

const url = new URL(job.url);
const result = await autocannon({
  url: url.origin,
  connections: job.connections,
  pipelining: 1,
  duration: job.duration ?? 10,
  amount: job.amount,
  method: 'POST',
  headers: job.headers,
  body: job.body,
  requests: [{...request, path: url.pathname}],
});
const out: LoadResult = {
  requests: result.requests.total,
  rps: result.requests.total / (result.duration || 1),
  p50: result.latency.p50,
  p99: result.latency.p99,
  errors: result.non2xx + result.errors + result.timeouts,
};
process.stdout.write(JSON.stringify(out) + '\n');
