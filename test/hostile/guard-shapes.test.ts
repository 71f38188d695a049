/**
 * The request guard (src/request-guard.ts) refuses before tvm runs, and answers in the
 * shape of the route the request was for: Google's error envelope on both IAM-shaped
 * routes (generateAccessToken and generateIdToken), RFC 6749 §5.2 everywhere else.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import type {AddressInfo} from 'node:net';
import {Writable} from 'node:stream';
import {http as registerHttp} from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import {createLogger} from '../../src/log.ts';
import {installRequestGuard} from '../../src/request-guard.ts';

const ACCOUNT = 'reporting@tvm-local.iam.gserviceaccount.com';

void test('a compressed body is refused in the shape of its route', async () => {
  const lines: string[] = [];
  let reached = 0;
  installRequestGuard({
    serve(_req, res) {
      reached++;
      res.end('{}');
    },
    logger: createLogger(
      'info',
      new Writable({
        write(c, _e, cb) {
          lines.push(String(c));
          cb();
        },
      }),
    ),
  });
  registerHttp('guard-shapes', (_req, res) => {
    res.status(500).end();
  });
  const server = getTestServer('guard-shapes');
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rows: Array<[string, unknown]> = [
    [
      `/v1/projects/-/serviceAccounts/${ACCOUNT}:generateIdToken`,
      {
        error: {
          code: 415,
          message: 'compressed request bodies are not accepted',
          status: 'INVALID_ARGUMENT',
        },
      },
    ],
    [
      `/v1/projects/-/serviceAccounts/${ACCOUNT}:generateAccessToken`,
      {
        error: {
          code: 415,
          message: 'compressed request bodies are not accepted',
          status: 'INVALID_ARGUMENT',
        },
      },
    ],
    [
      '/token',
      {
        error: 'invalid_request',
        error_description: 'compressed request bodies are not accepted',
      },
    ],
  ];
  try {
    for (const [path, want] of rows) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body: '{}',
      });
      assert.equal(res.status, 415, path);
      assert.deepEqual(await res.json(), want, path);
    }
    assert.equal(reached, 0, 'tvm never ran for them');
    assert.equal(lines.length, rows.length, 'each audited');
  } finally {
    server.closeAllConnections();
    await new Promise(r => server.close(r));
  }
});
