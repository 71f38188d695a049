import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {
  API_KEY_PATTERN,
  apiKeySha256Hex,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
} from '../../src/auth/api-key.ts';

void describe('API keys', () => {
  void test('format: tvm_ + 43 base64url characters carrying 32 random bytes', () => {
    const key = generateApiKey();
    assert.match(key, /^tvm_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key.slice(4), 'base64url').length, 32);
  });

  void test('keys do not repeat', () => {
    const keys = new Set(Array.from({length: 1000}, generateApiKey));
    assert.equal(keys.size, 1000);
  });

  void test('hash is SHA-256 of the UTF-8 key', () => {
    const key = generateApiKey();
    const want = createHash('sha256').update(Buffer.from(key, 'utf8')).digest();
    assert.deepEqual(hashApiKey(key), want);
    assert.equal(apiKeySha256Hex(key), want.toString('hex'));
    assert.match(apiKeySha256Hex(key), /^[0-9a-f]{64}$/);
  });

  const cases: Array<{name: string; input: string; want: boolean}> = [
    {name: 'a generated key', input: generateApiKey(), want: true},
    {name: 'fixed example', input: `tvm_${'A'.repeat(42)}-`, want: true},
    {name: 'too short', input: `tvm_${'A'.repeat(42)}`, want: false},
    {name: 'too long', input: `tvm_${'A'.repeat(44)}`, want: false},
    {name: 'wrong prefix', input: `tvx_${'A'.repeat(43)}`, want: false},
    {
      name: 'standard base64 character',
      input: `tvm_${'A'.repeat(42)}+`,
      want: false,
    },
    {name: 'embedded in text', input: ` tvm_${'A'.repeat(43)}`, want: false},
  ];
  for (const {name, input, want} of cases) {
    void test(`looksLikeApiKey: ${name}`, () => {
      assert.equal(looksLikeApiKey(input), want);
      assert.equal(API_KEY_PATTERN.test(input), want);
    });
  }
});
