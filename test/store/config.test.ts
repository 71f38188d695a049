/**
 * The settings of the shared store (src/config.ts): what is accepted, what stops the
 * start, and that a refused value is never echoed (it may carry a password).
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parseConfig} from '../../src/config.ts';
import {ConfigError} from '../../src/errors.ts';

const KEY = Buffer.alloc(32, 7).toString('base64');
const SECRET = 'projects/p/secrets/s/versions/1';

void test('unset: no shared store, as before', () => {
  const c = parseConfig({});
  assert.equal(c.redis, undefined);
  assert.equal(c.redisTimeoutMs, 500);
});

void test('a local URL with a password and a key from the environment', () => {
  const c = parseConfig({
    TVM_REDIS_URL: 'redis://:s3cret@127.0.0.1:6390/2',
    TVM_CACHE_KEY: KEY,
  });
  assert.deepEqual(
    {...c.redis},
    {
      tls: false,
      host: '127.0.0.1',
      port: 6390,
      db: 2,
      username: undefined,
      password: 's3cret',
      display: 'redis://127.0.0.1:6390/2',
    },
  );
  assert.equal(c.cacheKey?.length, 32);
});

void test('production: rediss with a CA, the AUTH string and the key from Secret Manager', () => {
  const c = parseConfig({
    K_SERVICE: 'tvm',
    TVM_REDIS_URL: 'rediss://10.1.2.3:6378',
    TVM_REDIS_CA:
      '-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----',
    TVM_REDIS_AUTH_SECRET: SECRET,
    TVM_CACHE_KEY_SECRET: SECRET,
  });
  assert.equal(c.redis?.tls, true);
  assert.equal(c.redis?.password, undefined);
  assert.match(c.redisCa!, /^-----BEGIN CERTIFICATE-----\nMIIB\n/);
  assert.equal(c.redisAuthSecret?.name, SECRET);
});

const refused: [string, Record<string, string>, string][] = [
  [
    'not redis',
    {TVM_REDIS_URL: 'http://127.0.0.1:6379', TVM_CACHE_KEY: KEY},
    'TVM_REDIS_URL',
  ],
  [
    'plain redis off loopback',
    {TVM_REDIS_URL: 'redis://10.0.0.3:6379', TVM_CACHE_KEY: KEY},
    'TVM_REDIS_URL',
  ],
  [
    'a password in the URL on the platform',
    {
      K_SERVICE: 'tvm',
      TVM_REDIS_URL: 'rediss://:hunter2@10.0.0.3:6378',
      TVM_CACHE_KEY_SECRET: SECRET,
    },
    'TVM_REDIS_URL',
  ],
  [
    'local mode off loopback',
    {
      TVM_LOCAL: '1',
      TVM_REDIS_URL: 'rediss://10.0.0.3:6378',
      TVM_CACHE_KEY: KEY,
    },
    'TVM_REDIS_URL',
  ],
  [
    'a query',
    {TVM_REDIS_URL: 'redis://127.0.0.1:6379/?x=hunter2', TVM_CACHE_KEY: KEY},
    'TVM_REDIS_URL',
  ],
  [
    'no cache key',
    {TVM_REDIS_URL: 'redis://127.0.0.1:6379'},
    'TVM_CACHE_KEY_SECRET',
  ],
  [
    'two cache keys',
    {
      TVM_REDIS_URL: 'redis://127.0.0.1:6379',
      TVM_CACHE_KEY: KEY,
      TVM_CACHE_KEY_SECRET: SECRET,
    },
    'TVM_CACHE_KEY_SECRET',
  ],
  [
    'a short key',
    {
      TVM_REDIS_URL: 'redis://127.0.0.1:6379',
      TVM_CACHE_KEY: Buffer.alloc(16).toString('base64'),
    },
    'TVM_CACHE_KEY',
  ],
  [
    'a key in the environment on the platform',
    {
      K_SERVICE: 'tvm',
      TVM_REDIS_URL: 'rediss://10.0.0.3:6378',
      TVM_CACHE_KEY: KEY,
    },
    'TVM_CACHE_KEY',
  ],
  [
    'a password twice',
    {
      TVM_REDIS_URL: 'redis://:hunter2@127.0.0.1:6379',
      TVM_REDIS_AUTH_SECRET: SECRET,
      TVM_CACHE_KEY: KEY,
    },
    'TVM_REDIS_AUTH_SECRET',
  ],
  [
    'a CA for plain redis',
    {
      TVM_REDIS_URL: 'redis://127.0.0.1:6379',
      TVM_CACHE_KEY: KEY,
      TVM_REDIS_CA: '-----BEGIN CERTIFICATE-----x-----END CERTIFICATE-----',
    },
    'TVM_REDIS_CA',
  ],
  [
    'not PEM',
    {
      TVM_REDIS_URL: 'rediss://127.0.0.1:6379',
      TVM_CACHE_KEY: KEY,
      TVM_REDIS_CA: 'hunter2',
    },
    'TVM_REDIS_CA',
  ],
  ['a store setting without the URL', {TVM_CACHE_KEY: KEY}, 'TVM_CACHE_KEY'],
  [
    'a bad secret name',
    {TVM_REDIS_URL: 'redis://127.0.0.1:6379', TVM_CACHE_KEY_SECRET: 'my-key'},
    'TVM_CACHE_KEY_SECRET',
  ],
  [
    'a timeout out of range',
    {TVM_REDIS_TIMEOUT_MS: '5'},
    'TVM_REDIS_TIMEOUT_MS',
  ],
];

for (const [name, env, variable] of refused) {
  void test(`refused: ${name}`, () => {
    assert.throws(
      () => parseConfig(env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.message.startsWith(`${variable}: `), e.message);
        assert.ok(!e.message.includes('hunter2'), 'never echoes a secret');
        assert.ok(!e.message.includes(KEY), 'never echoes the key');
        return true;
      },
    );
  });
}
