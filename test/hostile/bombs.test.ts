/**
 * Compressed and endless bodies against tvm served as Cloud Functions serves it (the
 * functions-framework CLI on the built code, NODE_ENV=production): every Content-Encoding
 * but identity is refused with 415 before a byte is inflated, on every path; bodies
 * are capped at tvm's limit, chunked ones cut off early; each refusal is audited; the
 * instance's memory grows by less than 32 MiB through all of it, and the same instance
 * then vends a token. A malformed percent-escape in the path gets tvm's JSON 400.
 */
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {request} from 'node:http';
import {rmSync} from 'node:fs';
import {MAX_BODY_BYTES} from '../../src/http/request.ts';
import {
  buildPrivately,
  memoryOf,
  resetPeak,
  serveBuilt,
  type Served,
} from './cli.ts';
import {BROTLI_1GIB, gzipBomb} from './bomb-bodies.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const IAM_PATH =
  '/v1/projects/-/serviceAccounts/reporting@tvm-local.iam.gserviceaccount.com:generateAccessToken';
const PATHS = ['/token', IAM_PATH, '/healthz', '/no/such/route'];

let outDir: string;
let served: Served;
let before_: {rss: number; peak: number};
let peakReset = false;

before(async () => {
  outDir = buildPrivately();
  served = await serveBuilt(outDir);
  // Settle the start and load what the first ordinary requests load (the framework's
  // parsers, tvm's routes), then measure from here.
  for (const path of PATHS) {
    for (const type of [
      'application/json',
      'application/x-www-form-urlencoded',
    ]) {
      await send(path, {'content-type': type}, Buffer.from('{}'));
    }
  }
  await new Promise(r => setTimeout(r, 500));
  before_ = memoryOf(served.child.pid!);
  peakReset = resetPeak(served.child.pid!);
  if (peakReset) before_ = memoryOf(served.child.pid!);
});

after(async () => {
  await served?.close();
  if (outDir) rmSync(outDir, {recursive: true, force: true});
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** Body bytes the client got onto the wire before the answer or the close. */
  readonly sent: number;
}

/**
 * Sends `body` (or `total` bytes of zeros in 64 KiB chunks, chunked, when `body` is
 * undefined) and resolves with the answer; stops sending as soon as an answer comes.
 */
function send(
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  total = GiB,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(served.url);
    let sent = 0;
    let answered = false;
    const req = request({
      host: u.hostname,
      port: u.port,
      method: 'POST',
      path,
      headers,
    });
    req.on('response', res => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
          sent,
        }),
      );
    });
    req.on('error', e => {
      if (!answered) reject(e);
    });
    if (body !== undefined) {
      sent = body.length;
      req.end(body);
      return;
    }
    const chunk = Buffer.alloc(64 * 1024);
    const pump = () => {
      while (!answered && !req.destroyed && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (sent >= total) req.end();
    };
    pump();
  });
}

function assertRefused(
  a: Answer,
  status: number,
  path: string,
  descr: RegExp,
): void {
  assert.equal(a.status, status, a.text);
  assert.match(String(a.headers['content-type']), /^application\/json/);
  const body = JSON.parse(a.text) as Record<string, unknown>;
  if (path === IAM_PATH) {
    const e = body.error as Record<string, unknown>;
    assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'status']);
    assert.equal(e.code, status);
    assert.equal(e.status, 'INVALID_ARGUMENT');
    assert.match(String(e.message), descr);
  } else {
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, 'invalid_request');
    assert.match(String(body.error_description), descr);
  }
}

const encodings: {name: string; header: string; body: () => Buffer}[] = [
  {name: 'brotli, 841 bytes to 1 GiB', header: 'br', body: () => BROTLI_1GIB},
  {name: 'gzip, 1 GiB', header: 'gzip', body: () => gzipBomb('gzip')},
  {name: 'deflate, 1 GiB', header: 'deflate', body: () => gzipBomb('deflate')},
  {name: 'upper case BR', header: 'BR', body: () => BROTLI_1GIB},
  {
    name: 'a list ending in br',
    header: 'identity, br',
    body: () => BROTLI_1GIB,
  },
];

/** Peak memory growth of the instance since the baseline, MiB, for the record. */
function growth(t: {diagnostic(s: string): void}, what: string): number {
  const g = (memoryOf(served.child.pid!).peak - before_.rss) / MiB;
  t.diagnostic(`peak growth after ${what}: ${g.toFixed(1)} MiB`);
  return g;
}

void test('compressed bodies are refused with 415 before inflating, on every path', async t => {
  for (const e of encodings) {
    for (const path of PATHS) {
      const a = await send(
        path,
        {
          'content-type': 'application/json',
          'content-encoding': e.header,
          'content-length': String(e.body().length),
        },
        e.body(),
      );
      assertRefused(a, 415, path, /compressed/);
    }
    growth(t, `${e.name} on ${PATHS.length} paths`);
  }
});

void test('a compressed body sent chunked is refused with 415 too', async t => {
  const a = await send(
    '/token',
    {
      'content-type': 'application/x-www-form-urlencoded',
      'content-encoding': 'br',
      'transfer-encoding': 'chunked',
    },
    undefined,
  );
  assertRefused(a, 415, '/token', /compressed/);
  assert.ok(a.sent < 32 * MiB, `sent ${a.sent}`);
  growth(t, 'a chunked brotli body');
});

void test('a body declared over the limit is refused with 413 before it is read, on every path', async () => {
  for (const path of PATHS) {
    const a = await send(
      path,
      {
        'content-type': 'application/json',
        'content-length': String(MAX_BODY_BYTES + 1),
      },
      undefined,
      MAX_BODY_BYTES + 1,
    );
    assertRefused(a, 413, path, new RegExp(`${MAX_BODY_BYTES} bytes`));
  }
});

void test('a chunked body without Content-Length is cut off just past the limit, on every path', async t => {
  for (const path of PATHS) {
    for (const type of [
      'application/json',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      'text/plain',
    ]) {
      const a = await send(
        path,
        {'content-type': type, 'transfer-encoding': 'chunked'},
        undefined,
      );
      assertRefused(a, 413, path, new RegExp(`${MAX_BODY_BYTES} bytes`));
      assert.ok(a.sent < 32 * MiB, `the client got ${a.sent} bytes out`);
    }
  }
  growth(t, `${PATHS.length * 4} endless chunked bodies`);
});

void test('a malformed percent-escape in the path gets JSON 400, no HTML, no stack', async () => {
  for (const path of [
    '/%E0%A4%A',
    '/token%',
    '/token/%ZZ',
    '/%FF',
    IAM_PATH.replace('reporting', '%E0%A4%A'),
  ]) {
    const stderrBefore = served.stderr().length;
    const res = await fetch(`${served.url}${path}`, {method: 'GET'});
    const text = await res.text();
    assert.equal(res.status, 400, `${path}: ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.doesNotMatch(text, /<html|<pre|at \w+ \(/i);
    const body = JSON.parse(text) as {error: unknown};
    if (path.startsWith('/v1/')) {
      assert.deepEqual(body.error, {
        code: 400,
        message: 'the request path is not valid percent-encoded UTF-8',
        status: 'INVALID_ARGUMENT',
      });
    } else assert.equal(body.error, 'invalid_request');
    await new Promise(r => setTimeout(r, 50));
    assert.equal(served.stderr().slice(stderrBefore), '', 'nothing on stderr');
  }
});

void test('every refusal is audited in tvm format', async () => {
  await new Promise(r => setTimeout(r, 200));
  const audits = served
    .output()
    .split('\n')
    .filter(l => l.startsWith('{'))
    .map(l => JSON.parse(l) as Record<string, unknown>)
    .filter(l => l.audit !== undefined);
  const reasons = audits.map(l => (l.audit as {reason: string}).reason);
  const count = (r: string) => reasons.filter(x => x === r).length;
  assert.ok(
    count('ERR_UNSUPPORTED_MEDIA_TYPE') >= encodings.length * PATHS.length + 1,
  );
  assert.ok(count('ERR_PAYLOAD_TOO_LARGE') >= PATHS.length * 5);
  assert.ok(count('ERR_INVALID_REQUEST') >= 5);
  for (const l of audits) {
    const a = l.audit as Record<string, unknown>;
    assert.equal(a.decision, 'deny');
    // src/audit.ts sets the severity: refusals WARNING, probes of unknown paths INFO.
    assert.ok(
      ['WARNING', 'INFO'].includes(l.severity as string),
      String(l.severity),
    );
    assert.equal(
      (l['logging.googleapis.com/labels'] as {type: string}).type,
      'audit',
    );
    assert.equal(typeof (l.httpRequest as {status: number}).status, 'number');
  }
});

void test('memory grew by under 32 MiB through every bomb, and the instance still vends a token', async t => {
  const now = memoryOf(served.child.pid!);
  const growth = now.peak - before_.rss;
  t.diagnostic(
    `memory: rss before ${(before_.rss / MiB).toFixed(1)} MiB, peak after ${(now.peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB (peak reset: ${peakReset})`,
  );
  assert.ok(growth < 32 * MiB, `grew ${(growth / MiB).toFixed(1)} MiB`);
  const res = await fetch(`${served.url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`demo:${served.key}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
  });
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(body.error));
  assert.equal(body.token_type, 'Bearer');
  assert.equal(typeof body.access_token, 'string');
  assert.ok(!served.output().includes(served.key), 'the key is not logged');
});

void test('the framework never printed a stack or a parser error', () => {
  assert.doesNotMatch(served.stderr(), /Error|at \w+ \(/);
});
