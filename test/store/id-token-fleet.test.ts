/**
 * ID tokens across a fleet: two tvm instances (functions-framework processes) against
 * one Redis and the emulator. An ID token minted by one instance is served by the
 * other with no second mint, sealed at rest like an access token; the ID-token and
 * access-token entries of one account never meet.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {
  eventually,
  startFleet,
  waitConnected,
  type Fleet,
} from '../support/fleet.ts';
import {haveRedis, startRedis, type TestRedis} from '../support/redis.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
} from '../support/stack.ts';

const RUN = 'https://reports-abc123-ew.a.run.app';
const INVOKER = 'invoker@tvm-local.iam.gserviceaccount.com';
const keys = {app: newKey()};
const cacheKey = randomBytes(32).toString('base64');
let fleet: Fleet;
let redis: TestRedis;
const seen: string[] = [];

const skip = haveRedis() ? false : 'redis-server is not installed';

before(async () => {
  if (skip) return;
  redis = await startRedis();
  fleet = await startFleet({
    policy: `
version: 1
service_accounts:
  invoker: {email: ${INVOKER}}
clients:
  app:
    api_keys: [{sha256: "{{KEY:app}}"}]
    allow:
      - service_account: invoker
        scopes: [cloud-platform]
        id_token:
          audiences: ["${RUN}"]
`,
    keys,
    env: {TVM_REDIS_URL: redis.url, TVM_CACHE_KEY: cacheKey},
  });
  await waitConnected(fleet);
});

after(async () => {
  if (skip) return;
  await fleet.close();
  await redis.close();
  assertNoSecretsLogged([keys.app, redis.password, cacheKey, ...seen]);
});

const asApp = {authorization: basic('app', keys.app)};
const idToken = (url: string) =>
  postForm(
    `${url}/token`,
    {
      grant_type: 'client_credentials',
      requested_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      audience: 'invoker',
      resource: RUN,
    },
    asApp,
  );

void describe('ID tokens through the shared store', {skip}, () => {
  void test('minted by A, served by B with no second mint; sealed at rest', async () => {
    const [a, b] = fleet.instances;
    fleet.emulator.stats.reset();
    const first = await idToken(a!.url);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    seen.push(String(first.body.access_token));
    const second = await idToken(b!.url);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.access_token, first.body.access_token);
    assert.equal(fleet.emulator.stats.count('iam.generateIdToken'), 1);
    const audit = await eventually(() =>
      b!.logs
        .map(l => l.audit as Record<string, unknown> | undefined)
        .findLast(l => l?.targetAudience === RUN),
    );
    assert.ok(audit, 'B audited it');
    assert.equal(audit.cached, true, 'B says it came from the cache');
    assert.equal(audit.decision, 'allow');
    const stored = redis.cli('--scan', '--pattern', 'tvm-tok:*').trim();
    const values = stored.split('\n').map(k => redis.cli('GET', k));
    assert.equal(values.length, 1);
    assert.ok(values[0]!.startsWith('v1.'), 'sealed');
    assert.ok(!values[0]!.includes(String(first.body.access_token)));
    assert.ok(!values[0]!.includes('eyJ'));
  });

  void test("the account's access token is another entry: no ID token is ever served as one", async () => {
    const [a, b] = fleet.instances;
    const id = await idToken(a!.url);
    assert.equal(id.status, 200);
    const access = await postForm(
      `${b!.url}/token`,
      {
        grant_type: 'client_credentials',
        audience: 'invoker',
        scope: 'cloud-platform',
      },
      asApp,
    );
    assert.equal(access.status, 200, JSON.stringify(access.body));
    seen.push(String(access.body.access_token));
    assert.match(String(access.body.access_token), /^ya29\./);
    assert.equal(access.body.token_type, 'Bearer');
    assert.notEqual(access.body.access_token, id.body.access_token);
  });
});
