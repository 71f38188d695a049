/**
 * Delegated and downscoped tokens across a fleet: two tvm instances (functions-framework
 * processes) against one Redis and the emulator. A token minted by one instance is
 * served by the other with no second call to Google, sealed at rest; one user's token
 * is never served for another user, nor a downscoped token for another boundary.
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

const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-a';
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
  robot: {email: robot@tvm-local.iam.gserviceaccount.com}
  share: {email: share@tvm-local.iam.gserviceaccount.com}
clients:
  app:
    api_keys: [{sha256: "{{KEY:app}}"}]
    allow:
      - service_account: robot
        scopes: [cloud-platform]
        delegation:
          subjects: ["*@corp.example"]
          scopes: [gmail.readonly]
      - service_account: share
        scopes: [devstorage.read_only]
        access_boundary:
          mode: force
          rules:
            - resource: ${BUCKET}
              permissions: [inRole:roles/storage.objectViewer, inRole:roles/storage.legacyBucketReader]
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
async function token(url: string, extra: Record<string, string>) {
  const r = await postForm(
    `${url}/token`,
    {grant_type: 'client_credentials', ...extra},
    asApp,
  );
  if (typeof r.body.access_token === 'string') seen.push(r.body.access_token);
  return r;
}

void describe(
  'delegated and downscoped tokens through the shared store',
  {skip},
  () => {
    void test('a delegated token minted by A is served by B, and only for its user', async () => {
      const [a, b] = fleet.instances;
      fleet.emulator.stats.reset();
      const ask = {
        audience: 'robot',
        subject: 'alice@corp.example',
        scope: 'gmail.readonly',
      };
      const first = await token(a!.url, ask);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const second = await token(b!.url, ask);
      assert.equal(second.body.access_token, first.body.access_token);
      assert.equal(fleet.emulator.stats.count('iam.signJwt'), 1);
      assert.equal(fleet.emulator.stats.count('oauth2.token'), 1);
      const audit = await eventually(() =>
        b!.logs
          .map(l => l.audit as Record<string, unknown> | undefined)
          .findLast(l => l?.delegatedSubject === 'alice@corp.example'),
      );
      assert.equal(audit?.cached, true);
      const bob = await token(b!.url, {...ask, subject: 'bob@corp.example'});
      assert.equal(bob.status, 200);
      assert.notEqual(bob.body.access_token, first.body.access_token);
      assert.equal(
        fleet.emulator.state.tokenInfo(String(bob.body.access_token))?.email,
        'bob@corp.example',
      );
    });

    void test('a downscoped token minted by A is served by B; another boundary is another token; sealed at rest', async () => {
      const [a, b] = fleet.instances;
      fleet.emulator.stats.reset();
      const ask = {audience: 'share', scope: 'devstorage.read_only'};
      const first = await token(a!.url, ask);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const second = await token(b!.url, ask);
      assert.equal(second.body.access_token, first.body.access_token);
      assert.equal(fleet.emulator.stats.count('iam.generateAccessToken'), 1);
      assert.equal(fleet.emulator.stats.count('sts.token'), 1);
      const narrower = await token(b!.url, {
        ...ask,
        access_boundary: JSON.stringify({
          accessBoundary: {
            accessBoundaryRules: [
              {
                availableResource: BUCKET,
                availablePermissions: ['inRole:roles/storage.objectViewer'],
              },
            ],
          },
        }),
      });
      assert.equal(narrower.status, 200);
      assert.notEqual(narrower.body.access_token, first.body.access_token);
      assert.equal(
        fleet.emulator.stats.count('iam.generateAccessToken'),
        1,
        'the source token was shared',
      );
      assert.equal(fleet.emulator.stats.count('sts.token'), 2);
      const stored = redis
        .cli('--scan', '--pattern', 'tvm-tok:*')
        .trim()
        .split('\n');
      for (const k of stored) {
        const v = redis.cli('GET', k);
        assert.ok(v.startsWith('v1.'), 'sealed');
        assert.ok(!v.includes('ya29.'));
      }
    });
  },
);
