/** The one loopback test (src/loopback.ts): what counts as this machine, and what not. */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {isLoopbackAddress, isLoopbackUrl} from '../src/loopback.ts';

const addresses: [string, boolean][] = [
  ['127.0.0.1:8081', true],
  ['localhost:8081', true],
  ['[::1]:8081', true],
  ['127.0.0.1', true],
  ['http://127.0.0.1:9000/token', true],
  ['https://localhost', true],
  ['http://[::1]:9443', true],
  ['http://LOCALHOST:1', true],
  ['::1', false],
  ['127.0.0.2:80', false],
  ['10.0.0.8:443', false],
  ['metadata.google.internal', false],
  ['localhost.evil.example', false],
  ['127.0.0.1.evil.example', false],
  ['127.0.0.1@evil.example', false],
  ['http://user:pw@127.0.0.1', false],
  ['ftp://127.0.0.1', false],
  ['grpc://localhost:1', false],
  ['127.0.0.1:99999', false],
  ['', false],
];
for (const [address, want] of addresses) {
  void test(`isLoopbackAddress(${JSON.stringify(address)}) = ${want}`, () => {
    assert.equal(isLoopbackAddress(address), want);
  });
}

void test('isLoopbackUrl looks at the host alone', () => {
  assert.equal(isLoopbackUrl(new URL('http://127.0.0.1:1/x?y')), true);
  assert.equal(isLoopbackUrl(new URL('https://[::1]/')), true);
  assert.equal(isLoopbackUrl(new URL('https://localhost./')), false);
  assert.equal(isLoopbackUrl(new URL('https://tvm.example.com/')), false);
});
