/**
 * The seam tvm's request guard (src/request-guard.ts) depends on: functions-framework,
 * pinned exactly, creates its server with `http.createServer` after loading the
 * function's module, so the guard can put tvm's own listener in place of the
 * framework's app. If an upgrade changes either, these fail.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import type {IncomingMessage} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {connect} from 'node:net';
import {Writable} from 'node:stream';
import {http as registerHttp} from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import {createLogger} from '../../src/log.ts';
import {clientAddress, targetPath} from '../../src/http/request.ts';
import {installRequestGuard} from '../../src/request-guard.ts';

const root = join(import.meta.dirname, '../..');
const readJson = (p: string) =>
  JSON.parse(readFileSync(join(root, p), 'utf8')) as Record<string, unknown>;

void test('functions-framework is pinned to one exact version, the one installed', () => {
  const pinned = (
    readJson('package.json').dependencies as Record<string, string>
  )['@google-cloud/functions-framework'];
  assert.match(pinned!, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
  const lock = readJson('package-lock.json').packages as Record<
    string,
    {version: string}
  >;
  assert.equal(
    lock['node_modules/@google-cloud/functions-framework']!.version,
    pinned,
  );
  assert.equal(
    readJson('node_modules/@google-cloud/functions-framework/package.json')
      .version,
    pinned,
  );
});

void test("the framework's server is created through http.createServer, so the guard sees every request first", async () => {
  const lines: string[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(c, _e, cb) {
        lines.push(String(c));
        cb();
      },
    }),
  );
  let reached = 0;
  installRequestGuard({
    logger,
    serve(req, res) {
      reached++;
      const raw = (req as {rawBody?: Buffer}).rawBody;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({raw: raw?.toString('utf8')}));
    },
  });
  let frameworkReached = 0;
  registerHttp('seam', (_req, res) => {
    frameworkReached++;
    res.status(500).end();
  });
  const server = getTestServer('seam');
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const refused = await fetch(`${url}/anything`, {
      method: 'POST',
      headers: {'content-type': 'application/json', 'content-encoding': 'br'},
      body: '{}',
    });
    assert.equal(refused.status, 415);
    const bad = await fetch(`${url}/%E0%A4%A`);
    assert.equal(bad.status, 400);
    assert.equal(
      ((await bad.json()) as {error: string}).error,
      'invalid_request',
    );
    // The framework's own ignored routes: tvm's JSON 404, audited, not its empty one.
    for (const path of ['/favicon.ico', '/ROBOTS.TXT/x']) {
      const ignored = await fetch(`${url}${path}`);
      assert.equal(ignored.status, 404, path);
      assert.match(String(ignored.headers.get('content-type')), /json/, path);
      assert.deepEqual(await ignored.json(), {
        error: 'not_found',
        error_description: 'no such route',
      });
    }
    // So does an absolute-form request for one (RFC 9112 §3.2.2), as Express reads it.
    const raw = await rawRequest(
      url,
      'GET http://tvm.example/favicon.ico HTTP/1.1\r\nHost: tvm.example\r\nConnection: close\r\n\r\n',
    );
    assert.match(raw, /^HTTP\/1\.1 404 /);
    assert.match(raw, /"error":"not_found"/);
    // Not a prefix match on the name: /favicon.icon is the function's to answer.
    const near = await fetch(`${url}/favicon.icon`);
    assert.equal(near.status, 200);
    await near.arrayBuffer();
    assert.equal(reached, 1, 'the function ran only for /favicon.icon');
    assert.equal(lines.length, 5, 'each refusal audited');
    for (const line of lines.slice(2)) {
      const record = JSON.parse(line) as {
        httpRequest: {status: number};
        audit: {decision: string; reason: string; detail: string};
      };
      assert.equal(record.httpRequest.status, 404);
      assert.equal(record.audit.decision, 'deny');
      assert.equal(record.audit.reason, 'ERR_NOT_FOUND');
      assert.match(record.audit.detail, /functions-framework would answer/);
    }
    reached = 0;

    // What passes the guard reaches tvm's listener, the body intact; the framework's
    // app (its parsers, its function) never runs.
    const ok = await fetch(`${url}/anything`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({a: 'b'.repeat(1000)}),
    });
    assert.equal(ok.status, 200);
    // The bytes as sent, as rawBody.
    assert.deepEqual(await ok.json(), {
      raw: JSON.stringify({a: 'b'.repeat(1000)}),
    });
    assert.equal(reached, 1);

    // A body the framework's parser would refuse with its HTML page reaches tvm.
    const broken = await fetch(`${url}/anything`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: 'false',
    });
    assert.equal(broken.status, 200);
    assert.deepEqual(await broken.json(), {raw: 'false'});

    // So does an empty body the framework's parser would refuse for its charset.
    const empty = await fetch(`${url}/anything`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=latin1',
      },
      body: '',
    });
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), {raw: ''});

    // A request without a body: an empty rawBody.
    const get = await fetch(`${url}/anything`);
    assert.deepEqual(await get.json(), {raw: ''});
    assert.equal(reached, 4);
    assert.equal(frameworkReached, 0, "the framework's app never ran");
  } finally {
    server.closeAllConnections();
    await new Promise(r => server.close(r));
  }
});

/** Sends `request` as raw bytes; resolves with everything the server answered. */
function rawRequest(url: string, request: string): Promise<string> {
  const {hostname, port} = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

void test('targetPath: the path of origin-form and absolute-form targets', () => {
  for (const [target, path] of [
    ['/token', '/token'],
    ['/token?x=1', '/token'],
    ['/token#x', '/token'],
    ['/token?x#y', '/token'],
    ['http://h/favicon.ico', '/favicon.ico'],
    ['http://h/token#x', '/token'],
    ['https://h:8080/a/b?c', '/a/b'],
    ['http://h', '/'],
    ['http://h?x', '/'],
    ['*', '/'],
    ['h:443', '/'],
    [undefined, '/'],
  ] as const) {
    assert.equal(targetPath(target), path, String(target));
  }
});

void test('clientAddress: the entry the last trusted hop appended, as Express reads X-Forwarded-For', () => {
  const req = (forwarded?: string) =>
    ({
      socket: {remoteAddress: '10.0.0.1'},
      headers: forwarded === undefined ? {} : {'x-forwarded-for': forwarded},
    }) as unknown as IncomingMessage;
  for (const [forwarded, hops, ip] of [
    [undefined, 0, '10.0.0.1'],
    [undefined, 1, '10.0.0.1'],
    ['9.9.9.9', 0, '10.0.0.1'],
    ['9.9.9.9', 1, '9.9.9.9'],
    ['1.1.1.1, 9.9.9.9', 1, '9.9.9.9'],
    ['1.1.1.1, 9.9.9.9', 2, '1.1.1.1'],
    ['1.1.1.1, 9.9.9.9', 5, '1.1.1.1'],
    // Empty entries are skipped, spaces (only) trimmed, as the `forwarded` package does.
    ['9.9.9.9,, ', 1, '9.9.9.9'],
    ['9.9.9.9,\t8.8.8.8\t', 1, '\t8.8.8.8\t'],
  ] as const) {
    assert.equal(
      clientAddress(req(forwarded), hops),
      ip,
      `${String(forwarded)} / ${hops}`,
    );
  }
});
