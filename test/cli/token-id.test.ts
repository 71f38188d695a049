/**
 * `tvm token --id-token --audience URL` against tvm in local mode, run as a user runs
 * it: the ID token on stdout, verified as its receiver would (`OAuth2Client#
 * verifyIdToken` against the emulator's certificates); cached under its own entry,
 * apart from the profile's access token, and refreshed ahead of expiry the same way;
 * tvm's refusals in one line; usage errors; no secret anywhere but stdout.
 */

import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile, readdir, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {OAuth2Client} from 'google-auth-library';
import {
  assertNoSecretsLogged,
  newKey,
  rememberSecret,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {assertNoSecret, tvm, userEnv, writeProfiles} from './run-tvm.ts';

const RUN = 'https://reports-abc123-ew.a.run.app';
const INVOKER = 'invoker@tvm-local.iam.gserviceaccount.com';
const keys = {cron: newKey()};
const handedOut: string[] = [];
let s: Stack;
let verifier: OAuth2Client;

before(async () => {
  s = await startStack({
    keys,
    env: {TVM_RATE_LIMIT_PER_IP: '100000'},
    policy: `
version: 1
service_accounts:
  reporting: {email: reporting@tvm-local.iam.gserviceaccount.com}
  invoker: {email: ${INVOKER}}
clients:
  cron:
    api_keys: [{sha256: "{{KEY:cron}}"}]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
      - service_account: invoker
        id_token:
          audiences: ["${RUN}"]
`,
  });
  verifier = new OAuth2Client({
    endpoints: {
      oauth2FederatedSignonPemCertsUrl: `${s.emulator.url}/oauth2/v1/certs`,
    },
  });
});

after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** Requests tvm answered for the client so far. */
const requests = () =>
  s.audits().filter(l => (l.audit as {client?: string}).client === 'cron')
    .length;

/** A user whose profile "cron" defaults to the reporting account's access token. */
async function cronUser(
  defaults: Record<string, unknown> = {
    audience: 'reporting',
    scopes: ['bigquery.readonly'],
  },
): Promise<Record<string, string>> {
  const env = await userEnv();
  const file = join(env.HOME!, 'cron.key');
  await writeFile(file, keys.cron, {mode: 0o600});
  await writeProfiles(env, {
    cron: {url: s.url, client_id: 'cron', api_key_file: file, ...defaults},
  });
  return env;
}

async function entries(env: Record<string, string>): Promise<string[]> {
  const dir = join(env.XDG_CACHE_HOME!, 'tvm');
  return (await readdir(dir))
    .filter(f => f.endsWith('.json'))
    .map(f => join(dir, f))
    .sort();
}

async function token(env: Record<string, string>, ...args: string[]) {
  const r = await tvm(env, 'token', ...args);
  if (r.code === 0) {
    const t = r.stdout.startsWith('{')
      ? (JSON.parse(r.stdout) as {id_token: string}).id_token
      : r.stdout.trim();
    handedOut.push(t);
    rememberSecret(t);
  }
  assertNoSecret(r.stderr, [keys.cron, ...handedOut], 'stderr');
  return r;
}

const ID = ['--id-token', '--audience', RUN, '--service-account', 'invoker'];

void describe('tvm token --id-token', () => {
  void test('prints an ID token for the audience, verified by its receiver; the second call is a cache hit', async () => {
    const env = await cronUser();
    const before = requests();
    const first = await token(env, ...ID);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, '');
    assert.match(first.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const p = (
      await verifier.verifyIdToken({
        idToken: first.stdout.trim(),
        audience: RUN,
      })
    ).getPayload()!;
    assert.equal(p.aud, RUN);
    assert.equal(p.email, undefined, 'no email unless asked');
    const second = await token(env, ...ID);
    assert.equal(second.stdout, first.stdout);
    assert.equal(requests() - before, 1, 'one request for two calls');
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.targetAudience, RUN);
    assert.equal(audit.serviceAccount, INVOKER);
    const [file, ...more] = await entries(env);
    assert.equal(more.length, 0);
    assert.equal((await stat(file!)).mode & 0o777, 0o600);
  });

  void test("cached apart from the profile's access token, and from the token with the email", async () => {
    const env = await cronUser();
    const id = await token(env, ...ID);
    const access = await token(env);
    const withEmail = await token(env, ...ID, '--include-email');
    for (const r of [id, access, withEmail]) assert.equal(r.code, 0, r.stderr);
    assert.match(access.stdout, /^ya29\./);
    assert.notEqual(withEmail.stdout, id.stdout);
    const p = (
      await verifier.verifyIdToken({
        idToken: withEmail.stdout.trim(),
        audience: RUN,
      })
    ).getPayload()!;
    assert.equal(p.email, INVOKER);
    assert.equal((await entries(env)).length, 3);
    // Each is served from its own entry.
    const before = requests();
    assert.equal((await token(env, ...ID)).stdout, id.stdout);
    assert.equal((await token(env)).stdout, access.stdout);
    assert.equal(
      (await token(env, ...ID, '--include-email')).stdout,
      withEmail.stdout,
    );
    assert.equal(requests(), before);
  });

  void test("the account from the profile's default audience", async () => {
    const env = await cronUser({audience: 'invoker'});
    const r = await token(env, '--id-token', '--audience', RUN);
    assert.equal(r.code, 0, r.stderr);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.serviceAccount, INVOKER);
  });

  void test('--format json: the ID token, expires_in, an ISO expiry and the audience', async () => {
    const env = await cronUser();
    const r = await token(env, ...ID, '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), [
      'id_token',
      'expires_in',
      'expiry',
      'audience',
    ]);
    assert.equal(j.audience, RUN);
    assert.ok(
      (j.expires_in as number) > 3000 && (j.expires_in as number) <= 3600,
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
      const first = await token(env, ...ID);
      const [file] = await entries(env);
      const e = JSON.parse(await readFile(file!, 'utf8')) as {
        expires_at: number;
      };
      e.expires_at = Date.now() + c.left;
      await writeFile(file!, JSON.stringify(e));
      const before = requests();
      const again = await token(env, ...ID);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(requests() - before, c.requests);
      if (c.requests === 0) assert.equal(again.stdout, first.stdout);
    });
  }

  void test("tvm's refusal in one line, with what to do next; exit 1", async () => {
    const env = await cronUser();
    const r = await token(
      env,
      '--id-token',
      '--audience',
      'https://evil.example.com',
      '--service-account',
      'invoker',
    );
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'tvm token: tvm refused (profile cron): invalid_target: this client is not granted ID tokens for the requested audience; ask for an audience (and email) the policy allows this client ("tvm policy explain --id-token" shows why)\n',
    );
    assert.equal((await entries(env)).length, 0);
  });

  const usage: Array<[string, string[], RegExp]> = [
    [
      '--id-token without --audience',
      ['--id-token', '--service-account', 'invoker'],
      /--id-token needs --audience URL/,
    ],
    [
      '--id-token with --scope',
      [...ID, '--scope', 'cloud-platform'],
      /do not apply to ID tokens/,
    ],
    [
      '--include-email without --id-token',
      ['--include-email'],
      /--include-email goes with --id-token/,
    ],
    [
      'the account named twice',
      ['--audience', 'reporting', '--service-account', 'reporting'],
      /name the service account once/,
    ],
  ];
  for (const [name, args, message] of usage) {
    void test(`${name}: exit 2 and why, no request`, async () => {
      const env = await cronUser();
      const before = requests();
      const r = await token(env, ...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
      assert.equal(requests(), before);
    });
  }

  void test('--service-account names the account of an access token too', async () => {
    const env = await cronUser({scopes: ['bigquery.readonly']});
    const r = await token(env, '--service-account', 'reporting');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ya29\./);
  });
});
