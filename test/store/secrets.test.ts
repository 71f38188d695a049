/**
 * The production path of the shared store: the AUTH string and the cache key read from
 * Secret Manager (the emulator's) through the function's own identity, no password in
 * the URL; and the sealing of tokens at rest: a value moved to another key, or written
 * without the key, is never served.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {Writable} from 'node:stream';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {parseConfig} from '../../src/config.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {createLogger} from '../../src/log.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {createService, type Service} from '../../src/service.ts';
import {haveRedis, startRedis, type TestRedis} from '../support/redis.ts';
import {
  allLogs,
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  renderPolicy,
} from '../support/stack.ts';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

const skip = haveRedis() ? false : 'redis-server is not installed';
const keys = {app: newKey()};
const cacheKey = randomBytes(32);
const POLICY = `
version: 1
service_accounts:
  x:
    email: x@tvm-local.iam.gserviceaccount.com
  y:
    email: y@tvm-local.iam.gserviceaccount.com
clients:
  app:
    api_keys:
      - sha256: "{{KEY:app}}"
    allow:
      - service_account: x
        scopes: [cloud-platform]
      - service_account: y
        scopes: [cloud-platform]
`;

let redis: TestRedis;
let emulator: Emulator;
let env: Record<string, string | undefined>;
const running: {service: Service; server: Server}[] = [];
const logs: Record<string, unknown>[] = [];
const seen: string[] = [];

before(async () => {
  if (skip) return;
  redis = await startRedis();
  emulator = await startEmulator();
  const text = renderPolicy(POLICY, keys);
  provisionForPolicy(emulator.state, parsePolicy(text), LOCAL_RUNTIME_ACCOUNT);
  const project = emulator.state.projectId;
  for (const [name, value] of [
    ['redis-auth', Buffer.from(redis.password)],
    ['tvm-cache-key', Buffer.from(cacheKey.toString('base64'))],
  ] as const) {
    const secret = `projects/${project}/secrets/${name}`;
    emulator.state.createSecret(secret);
    emulator.state.addSecretVersion(secret, value);
    emulator.state.grantSecretAccessor(
      `serviceAccount:${LOCAL_RUNTIME_ACCOUNT}`,
      secret,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'tvm-secrets-'));
  writeFileSync(join(dir, 'policy.yaml'), text);
  process.env.GCE_METADATA_HOST = emulator.metadataHost;
  env = {
    ...emulatorEnvironment(emulator),
    TVM_POLICY: join(dir, 'policy.yaml'),
    TVM_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    TVM_REDIS_AUTH_SECRET: `projects/${project}/secrets/redis-auth/versions/1`,
    TVM_CACHE_KEY_SECRET: `projects/${project}/secrets/tvm-cache-key/versions/latest`,
  };
});

after(async () => {
  if (skip) return;
  for (const r of running) {
    r.server.close();
    await r.service.close();
  }
  await emulator.close();
  await redis.close();
  assertNoSecretsLogged([
    keys.app,
    redis.password,
    cacheKey.toString('base64'),
    ...seen,
  ]);
});

/** A tvm instance in this process; its logs go to `logs` (and the secret scan). */
async function instance(
  more: Record<string, string> = {},
): Promise<{url: string; service: Service}> {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        allLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const service = await createService(parseConfig({...env, ...more}), {
    logger: createLogger('debug', sink),
  });
  const server = createServer(service.app);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  running.push({service, server});
  await service.policies.ready();
  for (let i = 0; i < 200 && !service.store!.client(); i++) {
    await new Promise(r => setTimeout(r, 25));
  }
  assert.ok(service.store!.client(), 'connected with the AUTH string');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    service,
  };
}

const vend = async (url: string, audience: string) => {
  const r = await postForm(
    `${url}/token`,
    {grant_type: 'client_credentials', audience, scope: 'cloud-platform'},
    {authorization: basic('app', keys.app)},
  );
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return r;
};

void describe('secrets from Secret Manager, sealed tokens', {skip}, () => {
  void test('AUTH string and cache key from Secret Manager: A mints, B serves', async () => {
    const {url: a} = await instance();
    const {url: b} = await instance();
    emulator.stats.reset();
    const first = await vend(a, 'x');
    const second = await vend(b, 'x');
    assert.equal(first.status, 200);
    assert.equal(second.body.access_token, first.body.access_token);
    assert.equal(emulator.stats.count('iam.generateAccessToken'), 1);
  });

  void test('a sealed value moved to another key is not served', async () => {
    const {url: a} = await instance();
    await vend(a, 'y'); // publishes y's token
    const entries = redis
      .cli('--scan', '--pattern', 'tvm-tok:*')
      .trim()
      .split('\n');
    assert.equal(entries.length, 2);
    const [k1, k2] = entries as [string, string];
    // Swap the two values: each now sits under the other account's key.
    const v1 = redis.cli('GET', k1).trim();
    const v2 = redis.cli('GET', k2).trim();
    redis.cli('SET', k1, v2, 'PX', '600000');
    redis.cli('SET', k2, v1, 'PX', '600000');
    const {url: fresh} = await instance(); // an empty local cache
    emulator.stats.reset();
    const x = await vend(fresh, 'x');
    const y = await vend(fresh, 'y');
    assert.equal(x.status, 200);
    assert.equal(y.status, 200);
    assert.equal(
      emulator.stats.count('iam.generateAccessToken'),
      2,
      'both minted anew: neither moved value was accepted',
    );
    assert.equal(
      emulator.state.tokenInfo(String(x.body.access_token))?.email,
      'x@tvm-local.iam.gserviceaccount.com',
    );
    assert.equal(
      emulator.state.tokenInfo(String(y.body.access_token))?.email,
      'y@tvm-local.iam.gserviceaccount.com',
    );
    assert.ok(
      logs.some(l => /failed authentication/.test(String(l.message))),
      'the tampering is logged',
    );
  });

  void test('a value written without the key is not served', async () => {
    const entries = redis
      .cli('--scan', '--pattern', 'tvm-tok:*')
      .trim()
      .split('\n');
    for (const k of entries) {
      redis.cli(
        'SET',
        k,
        `v1.${'A'.repeat(16)}.${'B'.repeat(40)}.${'C'.repeat(22)}`,
        'PX',
        '600000',
      );
    }
    const {url: fresh} = await instance();
    emulator.stats.reset();
    assert.equal((await vend(fresh, 'x')).status, 200);
    assert.equal(emulator.stats.count('iam.generateAccessToken'), 1);
  });

  void test('a cache key secret that does not exist yet: connected, tokens cached per instance, shared once it exists', async () => {
    const secret = `projects/${emulator.state.projectId}/secrets/late-key`;
    const {url, service} = await instance({
      TVM_CACHE_KEY_SECRET: `${secret}/versions/latest`,
    });
    assert.equal(service.store!.cacheKey(), undefined);
    assert.equal((await vend(url, 'x')).status, 200);
    emulator.state.createSecret(secret);
    emulator.state.addSecretVersion(secret, randomBytes(32));
    emulator.state.grantSecretAccessor(
      `serviceAccount:${LOCAL_RUNTIME_ACCOUNT}`,
      secret,
    );
    for (let i = 0; i < 100 && !service.store!.cacheKey(); i++) {
      await new Promise(r => setTimeout(r, 100));
    }
    assert.equal(service.store!.cacheKey()?.length, 32, 'read on a retry');
    assert.ok(
      logs.some(l =>
        /shared store: the cache key could not be read/.test(String(l.message)),
      ),
    );
  });
});
