/**
 * The Secret Manager reader's `prepare`: the client library loaded ahead of the first
 * read, without asking for the function's identity or opening a connection.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {createServer, type AddressInfo, type Socket} from 'node:net';
import {createSecretReader} from '../../src/google/secret-manager.ts';

void test('prepare loads the library: no identity asked, no connection made', async () => {
  const sockets: Socket[] = [];
  const server = createServer(s => sockets.push(s));
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let identities = 0;
  const reader = createSecretReader(`http://127.0.0.1:${port}`, () => {
    identities++;
    return Promise.reject(new Error('no identity expected'));
  });
  try {
    assert.ok(reader.prepare, 'the gRPC reader has prepare');
    await reader.prepare();
    await reader.prepare();
    await new Promise(r => setTimeout(r, 50));
    assert.equal(identities, 0);
    assert.equal(sockets.length, 0);
  } finally {
    await reader.close();
    await new Promise(r => server.close(r));
  }
});
