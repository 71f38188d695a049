/**
 * `tvm token --subject USER` (domain-wide delegation) and `--access-boundary FILE`
 * (a downscoped token), run as a user runs them: what tvm vends is checked with the
 * emulator's tokeninfo (read with OAuth2Client), each is cached under its own entry,
 * and what the CLI refuses it refuses before asking tvm.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {OAuth2Client} from 'google-auth-library';
import {
  assertNoSecretsLogged,
  newKey,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {assertNoSecret, tvm, userEnv, writeProfiles} from './run-tvm.ts';

const ROBOT = 'robot@tvm-local.iam.gserviceaccount.com';
const GMAIL = 'https://www.googleapis.com/auth/gmail.readonly';
const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-share';
const VIEWER = 'inRole:roles/storage.objectViewer';
const keys = {sync: newKey()};
const handedOut: string[] = [];
let s: Stack;
let env: Record<string, string>;

before(async () => {
  s = await startStack({
    keys,
    env: {TVM_RATE_LIMIT_PER_IP: '100000'},
    policy: `
version: 1
service_accounts:
  robot: {email: ${ROBOT}}
  share: {email: share@tvm-local.iam.gserviceaccount.com}
clients:
  sync:
    api_keys: [{sha256: "{{KEY:sync}}"}]
    allow:
      - service_account: robot
        scopes: [cloud-platform]
        delegation:
          subjects: ["*@corp.example"]
          scopes: [gmail.readonly]
      - service_account: share
        scopes: [devstorage.read_only]
        access_boundary:
          mode: allow
          rules:
            - resource: ${BUCKET}
              permissions: [${VIEWER}, inRole:roles/storage.legacyBucketReader]
`,
  });
  env = await userEnv();
  const file = join(env.HOME!, 'sync.key');
  await writeFile(file, keys.sync, {mode: 0o600});
  await writeProfiles(env, {
    sync: {url: s.url, client_id: 'sync', api_key_file: file},
  });
});

after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

const tokeninfo = (t: string) =>
  new OAuth2Client({
    endpoints: {tokenInfoUrl: `${s.emulator.url}/tokeninfo`},
  }).getTokenInfo(t);

async function token(...args: string[]) {
  const r = await tvm(env, 'token', ...args);
  if (r.code === 0) handedOut.push(r.stdout.trim());
  assertNoSecret(r.stderr, [...Object.values(keys), ...handedOut], 'stderr');
  return r;
}

void describe('tvm token: delegated and downscoped tokens', () => {
  void test('--subject: a token that acts for the user, cached apart from the account’s own', async () => {
    s.emulator.stats.reset();
    const r = await token(
      '--audience',
      'robot',
      '--scope',
      'gmail.readonly',
      '--subject',
      'alice@corp.example',
    );
    assert.equal(r.code, 0, r.stderr);
    const delegated = r.stdout.trim();
    const info = await tokeninfo(delegated);
    assert.equal(info.email, 'alice@corp.example');
    assert.deepEqual(info.scopes, [GMAIL]);
    assert.equal(s.emulator.stats.count('iam.signJwt'), 1);

    const again = await token(
      '--audience',
      'robot',
      '--scope',
      'gmail.readonly',
      '--subject',
      'alice@corp.example',
    );
    assert.equal(again.stdout.trim(), delegated, 'from the cache');
    assert.equal(s.emulator.stats.count('iam.signJwt'), 1);

    const bob = await token(
      '--audience',
      'robot',
      '--scope',
      'gmail.readonly',
      '--subject',
      'bob@corp.example',
    );
    assert.equal(bob.code, 0, bob.stderr);
    assert.notEqual(
      bob.stdout.trim(),
      delegated,
      'another user, another token',
    );
    assert.equal(
      (await tokeninfo(bob.stdout.trim())).email,
      'bob@corp.example',
    );
    const own = await token('--audience', 'robot', '--scope', 'cloud-platform');
    assert.equal(own.code, 0, own.stderr);
    assert.notEqual(own.stdout.trim(), delegated);
    assert.equal(
      (await readdir(join(env.HOME!, '.cache/tvm'))).filter(f =>
        f.startsWith('sync.'),
      ).length,
      3,
      'three cache entries',
    );
  });

  void test('--subject outside the grant: tvm’s denial, said in one line', async () => {
    const r = await token(
      '--audience',
      'robot',
      '--scope',
      'gmail.readonly',
      '--subject',
      'eve@evil.example',
    );
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^tvm token: .*invalid_target/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  void test('--access-boundary FILE: a downscoped token whose boundary the emulator reports', async () => {
    const boundary = {
      accessBoundary: {
        accessBoundaryRules: [
          {availableResource: BUCKET, availablePermissions: [VIEWER]},
        ],
      },
    };
    const file = join(env.HOME!, 'boundary.json');
    await writeFile(file, JSON.stringify(boundary, null, 2));
    const r = await token(
      '--audience',
      'share',
      '--scope',
      'devstorage.read_only',
      '--access-boundary',
      file,
    );
    assert.equal(r.code, 0, r.stderr);
    const info = (await tokeninfo(r.stdout.trim())) as unknown as {
      access_boundary?: string;
    };
    assert.deepEqual(JSON.parse(String(info.access_boundary)), boundary);
    const plain = await token(
      '--audience',
      'share',
      '--scope',
      'devstorage.read_only',
    );
    assert.equal(plain.code, 0, plain.stderr);
    assert.notEqual(plain.stdout.trim(), r.stdout.trim(), 'cached apart');
  });

  void test('refused before tvm is asked: a bad subject, a boundary that is not JSON or too large, with --id-token', async () => {
    const before = s.audits().length;
    const notJson = join(env.HOME!, 'not.json');
    await writeFile(notJson, '{accessBoundary:');
    const big = join(env.HOME!, 'big.json');
    await writeFile(big, JSON.stringify({pad: 'x'.repeat(9000)}));
    for (const [args, want] of [
      [['--subject', 'alice'], /--subject is the email of the user/],
      [['--access-boundary', notJson], /is not JSON/],
      [['--access-boundary', big], /is larger than 8192 bytes/],
      [
        ['--access-boundary', join(env.HOME!, 'missing.json')],
        /cannot read --access-boundary .*ENOENT/,
      ],
      [
        ['--id-token', '--audience', 'https://x.example', '--subject', 'a@b.c'],
        /apply to access tokens, not to --id-token/,
      ],
    ] as const) {
      const r = await token('--audience', 'share', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
    assert.equal(s.audits().length, before, 'tvm was not asked');
  });
});
