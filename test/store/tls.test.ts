/**
 * The shared store over TLS, as production runs it (Memorystore with in-transit
 * encryption and AUTH): a redis-server that speaks only TLS, with a server certificate
 * from a throwaway CA, and two tvm instances given `TVM_REDIS_URL=rediss://...` and
 * that CA in `TVM_REDIS_CA`. They connect and share state; given another CA, they
 * refuse the server, fall back as docs/shared-store.md states, and say why in one
 * operator line, with nothing secret in any log.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {randomBytes, randomUUID} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {exportJWK, generateKeyPair, SignJWT, type CryptoKey} from 'jose';
import {
  eventually,
  operatorLines,
  policy,
  startFleet,
  waitConnected,
  type Fleet,
} from '../support/fleet.ts';
import {
  haveOpenssl,
  haveRedis,
  makeCa,
  startRedis,
  type TestRedis,
} from '../support/redis.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
} from '../support/stack.ts';

const ISSUER = 'http://localhost:8080';
const keys = {app: newKey()};
const cacheKey = randomBytes(32).toString('base64');
const skip =
  haveRedis() && haveOpenssl()
    ? false
    : 'redis-server or openssl is not installed';
let partnerKey: CryptoKey;
let jwks: string;
let redis: TestRedis;
const seen: string[] = [];

before(async () => {
  if (skip) return;
  const k = await generateKeyPair('ES256', {extractable: true});
  partnerKey = k.privateKey;
  jwks = JSON.stringify({...(await exportJWK(k.publicKey)), kid: 'p1'});
  redis = await startRedis({tls: true});
});

after(async () => {
  if (skip) return;
  await redis.close();
  assertNoSecretsLogged([keys.app, redis.password, cacheKey, ...seen]);
});

const env = (ca: string) => ({
  TVM_ISSUER: ISSUER,
  TVM_REDIS_URL: redis.url,
  TVM_REDIS_CA: ca,
  TVM_CACHE_KEY: cacheKey,
});

async function vend(url: string, audience: string) {
  const r = await postForm(
    `${url}/token`,
    {grant_type: 'client_credentials', audience, scope: 'cloud-platform'},
    {authorization: basic('app', keys.app)},
  );
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return r;
}

async function byAssertion(url: string) {
  const assertion = await new SignJWT({jti: randomUUID()})
    .setProtectedHeader({alg: 'ES256', kid: 'p1'})
    .setIssuer('partner')
    .setSubject('partner')
    .setAudience(ISSUER)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(partnerKey);
  seen.push(assertion);
  const r = await postForm(`${url}/token`, {
    grant_type: 'client_credentials',
    audience: 'one',
    scope: 'cloud-platform',
    client_assertion_type:
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  });
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return r;
}

/** Neither instance crashed, left an unhandled rejection or printed a warning. */
function assertQuiet(fleet: Fleet): void {
  for (const inst of fleet.instances) {
    assert.equal(inst.exited(), false, `${inst.name} is running`);
    assert.deepEqual(
      inst.other.filter(l => /unhandled|Error|Warning|ioredis/i.test(l)),
      [],
    );
  }
}

void describe('the shared store over TLS with the right CA', {skip}, () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet({
      policy: policy(jwks),
      keys,
      env: env(redis.ca!),
    });
    await waitConnected(fleet);
  });
  after(() => fleet.close());

  void test('the server speaks only TLS', () => {
    assert.equal(redis.cli('PING').trim(), 'PONG', 'with TLS and the CA');
    const plain = spawnSync(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(redis.port), 'PING'],
      {encoding: 'utf8', timeout: 10_000},
    );
    assert.notEqual(plain.stdout.trim(), 'PONG', 'without TLS');
  });

  void test('both instances connect over rediss:// and say so, naming no secret', () => {
    for (const inst of fleet.instances) {
      const line = inst.logs.find(l =>
        /^shared store connected/.test(String(l.message)),
      );
      assert.equal(line?.store, `rediss://127.0.0.1:${redis.port}/0`);
    }
  });

  void test('a token minted by A is served by B with no second mint', async () => {
    const [a, b] = fleet.instances;
    fleet.emulator.stats.reset();
    const first = await vend(a!.url, 'two');
    assert.equal(first.status, 200);
    const second = await vend(b!.url, 'two');
    assert.equal(second.status, 200);
    assert.equal(second.body.access_token, first.body.access_token);
    assert.equal(fleet.emulator.stats.count('iam.generateAccessToken'), 1);
    const audit = await eventually(() =>
      b!.logs
        .map(l => l.audit as Record<string, unknown> | undefined)
        .findLast(
          l => l?.serviceAccount === 'two@tvm-local.iam.gserviceaccount.com',
        ),
    );
    assert.equal(audit?.cached, true, 'B served it from the shared cache');
    // It went through this Redis, sealed.
    const names = redis.cli('--scan', '--pattern', 'tvm-tok:*').trim();
    assert.match(names, /^tvm-tok:[A-Za-z0-9_-]{43}$/);
    const value = redis.cli('GET', names);
    assert.ok(value.startsWith('v1.'), 'sealed');
    assert.ok(!value.includes(String(first.body.access_token)));
  });

  void test('an assertion accepted by A is refused by B', async () => {
    const [a, b] = fleet.instances;
    const assertion = await new SignJWT({jti: randomUUID()})
      .setProtectedHeader({alg: 'ES256', kid: 'p1'})
      .setIssuer('partner')
      .setSubject('partner')
      .setAudience(ISSUER)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(partnerKey);
    seen.push(assertion);
    const form = {
      grant_type: 'client_credentials',
      audience: 'one',
      scope: 'cloud-platform',
      client_assertion_type:
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    };
    const once = await postForm(`${a!.url}/token`, form);
    assert.equal(once.status, 200);
    seen.push(String(once.body.access_token));
    const again = await postForm(`${b!.url}/token`, form);
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
    assert.match(String(again.body.error_description), /already used/);
  });

  void test('nothing crashed, nothing warned', () => assertQuiet(fleet));
});

void describe('the shared store over TLS with a wrong CA', {skip}, () => {
  let fleet: Fleet;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tvm-other-ca-'));
    const other = makeCa(dir, 'some other CA');
    redis.cli('FLUSHALL');
    fleet = await startFleet({
      policy: policy(jwks),
      keys,
      env: env(other.cert),
    });
  });
  after(async () => {
    await fleet.close();
    rmSync(dir, {recursive: true, force: true});
  });

  void test('the server is refused: each instance says why in one line, and falls back', async () => {
    const [a, b] = fleet.instances;
    const why = await eventually(() => {
      const lines = fleet.instances.map(inst =>
        inst.logs.filter(
          l =>
            l.severity === 'WARNING' &&
            /^shared store unreachable/.test(String(l.message)),
        ),
      );
      return lines.every(l => l.length > 0) ? lines : undefined;
    });
    assert.ok(why, 'each instance logged why it cannot use the store');
    for (const lines of why) {
      // The reason is the certificate, and the store is named without its password.
      assert.equal(lines[0]!.store, `rediss://127.0.0.1:${redis.port}/0`);
      assert.match(
        String(lines[0]!.error),
        /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|certificate/i,
      );
    }
    // API keys are served per instance: each mints for itself.
    fleet.emulator.stats.reset();
    const first = await vend(a!.url, 'three');
    const second = await vend(b!.url, 'three');
    assert.deepEqual([first.status, second.status], [200, 200]);
    assert.notEqual(first.body.access_token, second.body.access_token);
    assert.equal(fleet.emulator.stats.count('iam.generateAccessToken'), 2);
    // Client assertions are refused: the replay guard cannot record them.
    for (const inst of [a!, b!]) {
      const r = await byAssertion(inst.url);
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.equal(r.headers.get('retry-after'), '2');
    }
    for (const inst of fleet.instances) {
      assert.equal(
        operatorLines(inst, /^replay guard: shared store unavailable/).length,
        1,
      );
      assert.equal(
        operatorLines(inst, /^shared store connected/).length,
        0,
        'never connected',
      );
    }
    // Said once, however often the connection is retried meanwhile.
    const retried = await eventually(() =>
      fleet.instances.every(inst =>
        inst.logs.some(l =>
          /^shared store still unreachable/.test(String(l.message)),
        ),
      )
        ? true
        : undefined,
    );
    assert.equal(retried, true, 'each instance retried');
    for (const inst of fleet.instances) {
      assert.equal(operatorLines(inst, /^shared store unreachable/).length, 1);
    }
    // Nothing was written to the server it refused.
    assert.equal(redis.cli('--scan', '--pattern', 'tvm-*').trim(), '');
    assertQuiet(fleet);
  });
});
