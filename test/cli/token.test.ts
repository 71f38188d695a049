/**
 * `tvm token` against tvm in local mode (the emulator behind it): the token, its
 * cache (hits make no request; refresh when under five minutes remain; twenty
 * processes on a cold cache make one request; a dead holder's lock is broken), tvm's
 * refusals surfaced in one line, and no secret anywhere but the token's own stdout.
 */

import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {generateKeyPairSync} from 'node:crypto';
import {readFile, readdir, stat, utimes, writeFile} from 'node:fs/promises';
import {createServer} from 'node:net';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {exportJWK} from 'jose';
import {
  assertNoSecretsLogged,
  newKey,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {
  assertNoSecret,
  startTvm,
  tvm,
  userEnv,
  writeProfiles,
} from './run-tvm.ts';

const ISSUER = 'https://tvm.example.test';
const keys = {cron: newKey()};
const partner = generateKeyPairSync('ec', {namedCurve: 'prime256v1'});
const handedOut: string[] = [];
let s: Stack;

before(async () => {
  const jwk = {
    ...(await exportJWK(partner.publicKey)),
    kid: 'p1',
    alg: 'ES256',
    use: 'sig',
  };
  s = await startStack({
    keys,
    env: {TVM_ISSUER: ISSUER, TVM_RATE_LIMIT_PER_IP: '100000'},
    policy: `
version: 1
service_accounts:
  reporting: {email: reporting@tvm-local.iam.gserviceaccount.com}
  short: {email: short@tvm-local.iam.gserviceaccount.com}
clients:
  cron:
    api_keys: [{sha256: "{{KEY:cron}}"}]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly, devstorage.read_only]
        max_lifetime: 15m
      - service_account: short
        scopes: [bigquery.readonly]
        max_lifetime: 4m
  partner:
    private_key_jwt:
      jwks: {"keys": [${JSON.stringify(jwk)}]}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
  });
});

after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** Requests tvm answered for `client` so far. */
function requests(client: string): number {
  return s
    .audits()
    .filter(l => (l.audit as {client?: string}).client === client).length;
}

/** A user with an API-key profile "cron" for the stack. */
async function cronUser(): Promise<Record<string, string>> {
  const env = await userEnv();
  const file = join(env.HOME!, 'cron.key');
  await writeFile(file, keys.cron, {mode: 0o600});
  await writeProfiles(env, {
    cron: {
      url: s.url,
      client_id: 'cron',
      api_key_file: file,
      audience: 'reporting',
      scopes: ['bigquery.readonly'],
    },
  });
  return env;
}

/** The cache entries of a user. */
async function entries(env: Record<string, string>): Promise<string[]> {
  const dir = join(env.XDG_CACHE_HOME!, 'tvm');
  return (await readdir(dir))
    .filter(f => f.endsWith('.json'))
    .map(f => join(dir, f));
}

/** Moves a cache entry's expiry to `msFromNow`. */
async function setExpiry(file: string, msFromNow: number): Promise<void> {
  const e = JSON.parse(await readFile(file, 'utf8')) as {expires_at: number};
  e.expires_at = Date.now() + msFromNow;
  await writeFile(file, JSON.stringify(e));
}

async function token(env: Record<string, string>, ...args: string[]) {
  const r = await tvm(env, 'token', ...args);
  if (r.code === 0)
    handedOut.push(r.stdout.trim().split('"')[3] ?? r.stdout.trim());
  return r;
}

void describe('tvm token', () => {
  void test('prints the token alone on stdout; the second call is a cache hit', async () => {
    const env = await cronUser();
    const before = requests('cron');
    const first = await token(env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^ya29\.[^\s]+\n$/);
    assert.equal(first.stderr, '');
    const second = await token(env);
    assert.equal(second.stdout, first.stdout);
    assert.equal(requests('cron') - before, 1, 'one request for two calls');
    const [file, ...more] = await entries(env);
    assert.equal(more.length, 0);
    assert.equal((await stat(file!)).mode & 0o777, 0o600);
    assert.equal(
      (await stat(join(env.XDG_CACHE_HOME!, 'tvm'))).mode & 0o777,
      0o700,
    );
    // tokeninfo agrees with what was asked.
    const info = (await (
      await fetch(
        `${s.emulator.url}/tokeninfo?access_token=${first.stdout.trim()}`,
      )
    ).json()) as {email: string; scope: string};
    assert.equal(info.email, 'reporting@tvm-local.iam.gserviceaccount.com');
    assert.equal(
      info.scope,
      'https://www.googleapis.com/auth/bigquery.readonly',
    );
  });

  void test('--format json: the token response with expires_in and an ISO expiry', async () => {
    const env = await cronUser();
    const r = await token(env, '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), [
      'access_token',
      'token_type',
      'expires_in',
      'expiry',
      'scope',
    ]);
    assert.equal(j.token_type, 'Bearer');
    assert.ok(
      (j.expires_in as number) > 800 && (j.expires_in as number) <= 900,
    );
    assert.ok(
      Math.abs(
        Date.parse(j.expiry as string) -
          Date.now() -
          (j.expires_in as number) * 1000,
      ) < 5000,
    );
  });

  const refresh: Array<{name: string; left: number; requests: number}> = [
    {
      name: 'six minutes left: served from the cache',
      left: 6 * 60_000,
      requests: 0,
    },
    {
      name: 'four minutes left: refreshed ahead of expiry',
      left: 4 * 60_000,
      requests: 1,
    },
    {name: 'expired: refreshed', left: -1000, requests: 1},
  ];
  for (const c of refresh) {
    void test(`refresh: ${c.name}`, async () => {
      const env = await cronUser();
      const first = await token(env);
      const [file] = await entries(env);
      await setExpiry(file!, c.left);
      const before = requests('cron');
      const again = await token(env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(requests('cron') - before, c.requests);
      // (tvm keeps its own cache, so a refresh may hand out the same token.)
      if (c.requests === 0) assert.equal(again.stdout, first.stdout);
    });
  }

  void test('a token granted for under five minutes is never served from the cache', async () => {
    const env = await cronUser();
    const before = requests('cron');
    await token(env, '--audience', 'short');
    await token(env, '--audience', 'short');
    assert.equal(requests('cron') - before, 2);
  });

  void test('one cache entry per request: another scope is another entry', async () => {
    const env = await cronUser();
    await token(env);
    await token(env, '--scope', 'devstorage.read_only');
    assert.equal((await entries(env)).length, 2);
  });

  void test('20 concurrent calls on a cold cache make one request to tvm', async () => {
    const env = await cronUser();
    const before = requests('cron');
    const runs = await Promise.all(
      Array.from({length: 20}, () => startTvm(['token'], env).done),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal(
      new Set(runs.map(r => r.stdout)).size,
      1,
      'all the same token',
    );
    handedOut.push(runs[0]!.stdout.trim());
    assert.equal(requests('cron') - before, 1);
  });

  void test('a lock left by a process that died is broken', async () => {
    const env = await cronUser();
    await token(env);
    const [file] = await entries(env);
    await setExpiry(file!, -1000);
    // pid 2^22+1 is above Linux's pid_max ceiling: no such process.
    await writeFile(
      `${file}.lock`,
      `4194305 ${(await import('node:os')).hostname()} deadbeef\n`,
      {mode: 0o600},
    );
    const r = await token(env);
    assert.equal(r.code, 0, r.stderr);
  });

  void test('a lock older than any request is broken whoever holds it', async () => {
    const env = await cronUser();
    await token(env);
    const [file] = await entries(env);
    await setExpiry(file!, -1000);
    const lock = `${file}.lock`;
    await writeFile(lock, '1 elsewhere.example cafe\n', {mode: 0o600});
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    const before = requests('cron');
    const r = await token(env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(requests('cron') - before, 1);
  });

  void test('a cache entry others could read is not trusted', async () => {
    const env = await cronUser();
    await token(env);
    const [file] = await entries(env);
    await (await import('node:fs/promises')).chmod(file!, 0o644);
    const before = requests('cron');
    await token(env);
    assert.equal(requests('cron') - before, 1);
    assert.equal((await stat(file!)).mode & 0o777, 0o600, 'rewritten 0600');
  });

  void test('private_key_jwt: the profile signs an assertion with its key', async () => {
    const env = await userEnv();
    const pem = join(env.HOME!, 'partner.pem');
    await writeFile(
      pem,
      partner.privateKey.export({format: 'pem', type: 'pkcs8'}) as string,
      {mode: 0o600},
    );
    const add = await tvm(
      env,
      'profile',
      'add',
      'partner',
      '--url',
      s.url,
      '--issuer',
      ISSUER,
      '--client-id',
      'partner',
      '--private-key-file',
      pem,
      '--key-id',
      'p1',
      '--audience',
      'reporting',
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(add.code, 0, add.stderr);
    const before = requests('partner');
    const r = await token(env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(requests('partner') - before, 1);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.authMethod, 'private_key_jwt');
    const show = await tvm(env, 'profile', 'show');
    assertNoSecret(show.stdout + show.stderr, [], 'profile show');
  });

  void test('an API key in the environment', async () => {
    const env = await userEnv({CRON_KEY: keys.cron});
    await tvm(
      env,
      'profile',
      'add',
      'env',
      '--url',
      s.url,
      '--client-id',
      'cron',
      '--api-key-env',
      'CRON_KEY',
      '--audience',
      'reporting',
      '--scope',
      'bigquery.readonly',
    );
    const r = await token(env);
    assert.equal(r.code, 0, r.stderr);
    const unset = await tvm(
      {...env, CRON_KEY: ''},
      'token',
      '--scope',
      'devstorage.read_only',
    );
    assert.equal(unset.code, 1);
    assert.match(
      unset.stderr,
      /environment variable CRON_KEY \(profile env's API key\) is empty or unset/,
    );
  });

  const refusals: Array<{name: string; args: string[]; want: RegExp}> = [
    {
      name: 'a scope the policy does not grant',
      args: ['--scope', 'cloud-platform'],
      want: /^tvm token: tvm refused \(profile cron\): invalid_scope: .*cloud-platform.*; ask only for scopes the policy grants this client \("tvm policy explain" shows why\)\n$/,
    },
    {
      name: 'a service account the policy does not grant',
      args: ['--audience', 'nobody@p.iam.gserviceaccount.com'],
      want: /^tvm token: tvm refused \(profile cron\): invalid_target: .*; ask for a service account the policy grants/,
    },
    {
      name: 'a lifetime over the grant',
      args: ['--lifetime', '3600'],
      want: /^tvm token: tvm refused \(profile cron\): invalid_request: .*lifetime/,
    },
  ];
  for (const {name, args, want} of refusals) {
    void test(`tvm's refusal surfaced in one line: ${name}`, async () => {
      const env = await cronUser();
      const r = await token(env, ...args);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, want);
      assertNoSecret(r.stderr, [keys.cron], 'refusal');
    });
  }

  void test('a wrong key: invalid_client, with what to check', async () => {
    const env = await userEnv();
    const file = join(env.HOME!, 'k');
    const wrong = newKey();
    await writeFile(file, wrong, {mode: 0o600});
    await tvm(
      env,
      'profile',
      'add',
      'cron',
      '--url',
      s.url,
      '--client-id',
      'cron',
      '--api-key-file',
      file,
      '--audience',
      'reporting',
    );
    const r = await token(env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /invalid_client: .*; check the profile's client_id and its key/,
    );
    assertNoSecret(r.stderr, [wrong], 'refusal');
  });

  void test('tvm unreachable: the URL and what to check', async () => {
    // A loopback port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>(r => probe.listen(0, '127.0.0.1', r));
    const {port} = probe.address() as AddressInfo;
    await new Promise(r => probe.close(r));
    const env = await userEnv();
    const file = join(env.HOME!, 't');
    await writeFile(file, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.');
    await writeProfiles(env, {
      gone: {
        url: `http://127.0.0.1:${port}`,
        oidc_token_file: file,
        audience: 'reporting',
      },
    });
    const r = await token(env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ECONNREFUSED/);
    assert.match(
      r.stderr,
      new RegExp(
        `^tvm token: cannot reach tvm at http://127\\.0\\.0\\.1:${port}/token \\(profile gone\\): .*; check the profile's url\n$`,
      ),
    );
  });
});
