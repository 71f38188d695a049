/**
 * src/google/fetch.ts through gaxios, as google-auth-library uses it: answers bounded
 * as they arrive (chunked too), no redirect followed (a request carrying a secret is
 * never re-sent elsewhere), an ordinary answer intact.
 */
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {gzipSync} from 'node:zlib';
import {gaxios} from 'google-auth-library';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  MAX_REQUEST_MS,
  boundedFetch,
  fetchImplementation,
} from '../../src/google/fetch.ts';

let server: Server;
let base: string;
const seen: string[] = [];
const bodies: string[] = [];
let lastHeaders: Record<string, unknown> = {};

before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    lastHeaders = req.headers;
    if (req.url === '/hang') return; // never answers
    if (req.url === '/upgrade') {
      res.writeHead(101, {connection: 'Upgrade', upgrade: 'websocket'});
      res.end();
      return;
    }
    if (req.url === '/cut') {
      res.writeHead(200, {'content-length': '1000'});
      res.write('z'.repeat(10));
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (req.url === '/big-head') {
      res.writeHead(200, {'content-length': String(5 * 1024 * 1024)});
      res.end();
      return;
    }
    if (req.url === '/gzip') {
      res.writeHead(200, {'content-encoding': 'gzip'});
      res.end(gzipSync('{"a":1}'));
      return;
    }
    if (req.url === '/echo') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(parts).toString());
        res.writeHead(200, {'content-type': 'text/plain'});
        res.end('ok');
      });
      return;
    }
    if (req.url === '/chunked') {
      // 200 KiB in 1 KiB chunks, no Content-Length.
      let sent = 0;
      const more = () => {
        while (sent < 200) {
          sent++;
          if (!res.write('x'.repeat(1024))) return void res.once('drain', more);
        }
        res.end();
      };
      res.writeHead(200, {'content-type': 'text/plain'});
      more();
      return;
    }
    if (req.url === '/declared') {
      res.writeHead(200, {'content-length': String(100 * 1024)});
      res.end('y'.repeat(100 * 1024));
      return;
    }
    if (req.url === '/redirect') {
      res.writeHead(307, {location: `${base}/elsewhere`});
      res.end();
      return;
    }
    if (req.url === '/empty') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify({accessToken: 'not-a-secret', n: 1}));
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise(r => server.close(r)));

const client = () =>
  new gaxios.Gaxios({
    fetchImplementation,
    retry: false,
    maxRedirects: 0,
  });

void test('an ordinary answer arrives intact, status and headers kept', async () => {
  const res = await client().request<{accessToken: string; n: number}>({
    url: `${base}/ok`,
    method: 'POST',
    data: {a: 1},
    maxContentLength: 64 * 1024,
  });
  assert.equal(res.status, 200);
  assert.deepEqual(res.data, {accessToken: 'not-a-secret', n: 1});
  assert.equal(res.headers.get('content-type'), 'application/json');
  // sent as JSON, with no compression asked for
  assert.equal(lastHeaders['content-type'], 'application/json');
  assert.equal(lastHeaders['accept-encoding'], undefined);
});

void test('a form body (URLSearchParams, as gaxios sends forms) arrives intact', async () => {
  bodies.length = 0;
  const res = await client().request<string>({
    url: `${base}/echo`,
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded'},
    data: {grant_type: 'x:y', assertion: 'a b&c'},
    responseType: 'text',
  });
  assert.equal(res.status, 200);
  assert.equal(res.data, 'ok');
  assert.deepEqual(bodies, ['grant_type=x%3Ay&assertion=a+b%26c']);
  assert.equal(lastHeaders['content-length'], String(bodies[0]!.length));
});

void test('URLSearchParams with no Content-Type of its own is sent as a form, as fetch sends it', async () => {
  bodies.length = 0;
  const res = await client().request<string>({
    url: `${base}/echo`,
    method: 'POST',
    data: new URLSearchParams({grant_type: 'x:y'}),
    responseType: 'text',
  });
  assert.equal(res.status, 200);
  assert.deepEqual(bodies, ['grant_type=x%3Ay']);
  assert.equal(
    lastHeaders['content-type'],
    'application/x-www-form-urlencoded;charset=UTF-8',
  );
});

void test("the call's timeout ends a request that gets no answer", async () => {
  seen.length = 0;
  await assert.rejects(
    client().request({url: `${base}/hang`, timeout: 150}),
    (e: {code?: string}) => e.code === 'TimeoutError',
  );
  assert.deepEqual(seen, ['GET /hang']);
});

void test('an encoded answer (never asked for) is refused, not handed on undecoded', async () => {
  await assert.rejects(
    client().request({url: `${base}/gzip`}),
    /an encoded answer is refused/,
  );
});

void test('only http: and https: URLs are fetched', async () => {
  await assert.rejects(
    fetchImplementation('file:///etc/passwd'),
    /unsupported URL scheme file:/,
  );
});

void test('a 204 answers with no body', async () => {
  const res = await client().request({url: `${base}/empty`});
  assert.equal(res.status, 204);
  assert.equal(res.data, '');
});

void test('a chunked answer over the limit is cut off as it arrives', async () => {
  await assert.rejects(
    client().request({url: `${base}/chunked`, maxContentLength: 64 * 1024}),
    (e: Error) => /over the limit of 65536 bytes/.test(e.message),
  );
});

void test('without a limit of its own, a call reads at most the default', async () => {
  assert.equal(DEFAULT_MAX_RESPONSE_BYTES, 1024 * 1024);
  const res = await client().request<string>({
    url: `${base}/chunked`,
    responseType: 'text',
  });
  assert.equal(res.data.length, 200 * 1024);
});

void test('a declared length over the limit is refused before the body is read', async () => {
  await assert.rejects(
    client().request({url: `${base}/declared`, maxContentLength: 64 * 1024}),
    /over the limit/,
  );
});

void test('a redirect is an error: the request is not re-sent to the Location', async () => {
  seen.length = 0;
  await assert.rejects(
    client().request({
      url: `${base}/redirect`,
      method: 'POST',
      data: 'subject_token=secret',
    }),
  );
  assert.deepEqual(seen, ['POST /redirect']);
});

void test('a call with no timeout of its own still ends: no request outlasts the deadline', async () => {
  assert.equal(MAX_REQUEST_MS, 30_000);
  seen.length = 0;
  const g = new gaxios.Gaxios({
    fetchImplementation: boundedFetch(200),
    retry: false,
  });
  await assert.rejects(
    g.request({url: `${base}/hang`}),
    (e: {cause?: {name?: string}; message: string}) =>
      /no answer within 200 ms/.test(e.message),
  );
  assert.deepEqual(seen, ['GET /hang']);
});

void test('a connection switched to another protocol (101) fails instead of waiting', async () => {
  await assert.rejects(
    boundedFetch(60_000)(`${base}/upgrade`),
    /the connection closed without an answer/,
  );
});

void test('a connection cut in the middle of the answer fails', async () => {
  await assert.rejects(
    client().request({url: `${base}/cut`}),
    /cut off|closed/,
  );
});

void test("a HEAD's Content-Length is not a body over the limit", async () => {
  const res = await fetchImplementation(`${base}/big-head`, {method: 'HEAD'});
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

void test('a Request is refused: only a URL is fetched (its method and body would be lost)', async () => {
  await assert.rejects(
    fetchImplementation(new Request(`${base}/ok`, {method: 'POST', body: 'x'})),
    /a Request is not accepted/,
  );
});

void test("a caller's Accept-Encoding is not sent; bytes go as they are", async () => {
  bodies.length = 0;
  const res = await fetchImplementation(`${base}/echo`, {
    method: 'POST',
    headers: {'accept-encoding': 'gzip', 'content-type': 'application/json'},
    body: new TextEncoder().encode('{"a":1}'),
  });
  assert.equal(res.status, 200);
  assert.equal(lastHeaders['accept-encoding'], undefined);
  assert.equal(lastHeaders['content-type'], 'application/json');
  assert.deepEqual(bodies, ['{"a":1}']);
});
