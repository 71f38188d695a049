/**
 * Executable-sourced credentials: `tvm credential-config --executable` writes an
 * external_account configuration whose credential_source.executable runs `tvm
 * subject-token` for an OIDC profile. Its output is checked against Google's
 * documented executable response, then google-auth-library, unmodified, runs it (as
 * PluggableAuthClient, GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1), exchanges the
 * token at tvm and calls an API with what tvm vended. Also `tvm token` and the
 * token-exchange path of an OIDC profile.
 */

import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {GoogleAuth, PluggableAuthClient} from 'google-auth-library';
import {assertNoSecretsLogged, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  lastAudit,
  startFakeGoogleApi,
  startIssuer,
  startOidcStack,
  type TestIssuer,
} from '../support/oidc.ts';
import {assertNoSecret, tvm, userEnv} from './run-tvm.ts';

const AUD = 'https://tvm.example.test';
const SUB = 'system:serviceaccount:jobs:export';
const READONLY = 'https://www.googleapis.com/auth/bigquery.readonly';
const handedOut: string[] = [];
let issuer: TestIssuer;
let s: Stack;
let api: Awaited<ReturnType<typeof startFakeGoogleApi>>;
let env: Record<string, string>;
let tokenFile: string;
let oidcToken: string;
let exp: number;

before(async () => {
  issuer = await startIssuer('https://cluster-issuer.test');
  await issuer.addKey('RS256', 'k1');
  s = await startOidcStack({
    fetch: fakeDns({[issuer.origin]: issuer.loopback}),
    policy: `
version: 1
service_accounts:
  reporting: {email: reporting@tvm-local.iam.gserviceaccount.com}
clients:
  cluster-export:
    oidc:
      issuer: ${issuer.origin}
      audiences: ["${AUD}"]
      claims:
        sub: {equals: "${SUB}"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        default_scopes: [bigquery.readonly]
        max_lifetime: 15m
`,
  });
  api = await startFakeGoogleApi(`${s.emulator.url}/tokeninfo`);
  env = await userEnv();
  tokenFile = join(env.HOME!, 'oidc-token');
  exp = Math.floor(Date.now() / 1000) + 600;
  oidcToken = await issuer.sign({sub: SUB, aud: AUD, exp, iat: exp - 600});
  handedOut.push(oidcToken);
  // A platform-written token file (a kubelet's is 0644): not held to 0600.
  await writeFile(tokenFile, oidcToken, {mode: 0o644});
  const r = await tvm(
    env,
    'profile',
    'add',
    'k8s',
    '--url',
    s.url,
    '--oidc-token-file',
    tokenFile,
    '--audience',
    'reporting',
    '--scope',
    'bigquery.readonly',
  );
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await api.close();
  await s.close();
  await issuer.close();
  assertNoSecretsLogged(handedOut);
});

void describe('OIDC profiles', () => {
  void test('tvm token exchanges the OIDC token (RFC 8693)', async () => {
    const r = await tvm(env, 'token');
    assert.equal(r.code, 0, r.stderr);
    handedOut.push(r.stdout.trim());
    assert.equal(lastAudit(s).client, 'cluster-export');
    assert.equal(lastAudit(s).subject, SUB);
  });

  void test("subject-token prints Google's executable response, nothing on stderr", async () => {
    const r = await tvm(env, 'subject-token', '--profile', 'k8s');
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    // Google's documented schema for a successful response, version 1.
    assert.deepEqual(out, {
      version: 1,
      success: true,
      token_type: 'urn:ietf:params:oauth:token-type:jwt',
      id_token: oidcToken,
      expiration_time: exp,
    });
  });

  void test('with an output_file, the response is written there too (0600)', async () => {
    const out = join(env.HOME!, 'executable-cache.json');
    const r = await tvm(
      {...env, GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE: out},
      'subject-token',
    );
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(await readFile(out, 'utf8'), r.stdout.trim());
    assert.equal((await stat(out)).mode & 0o777, 0o600);
  });

  void test('subject-token failure: non-zero exit, success false with code and message', async () => {
    const r = await tvm(
      {...env},
      'subject-token',
      '--profile',
      'k8s',
      '--config',
      join(env.HOME!, 'none.yaml'),
    );
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.version, 1);
    assert.equal(out.success, false);
    assert.equal(out.code, 'ERR_PROFILE');
    assert.match(out.message as string, /no profile "k8s"/);
  });

  void test('credential-config --executable, consumed by google-auth-library end to end', async () => {
    const cfg = join(env.HOME!, 'credentials.json');
    const made = await tvm(
      env,
      'credential-config',
      '--executable',
      '--profile',
      'k8s',
      '--output',
      cfg,
    );
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await stat(cfg)).mode & 0o777, 0o600);
    const json = JSON.parse(await readFile(cfg, 'utf8')) as {
      credential_source: {
        executable: {command: string; timeout_millis: number};
      };
      token_url: string;
      audience: string;
      subject_token_type: string;
    };
    assert.equal(json.token_url, `${s.url}/token`);
    assert.equal(json.audience, 'reporting');
    assert.equal(
      json.subject_token_type,
      'urn:ietf:params:oauth:token-type:jwt',
    );
    assert.match(
      json.credential_source.executable.command,
      /^\/\S+\/node \/\S+\/bin\/tvm\.js subject-token --config \/\S+\/config\.yaml --profile k8s$/,
    );
    assertNoSecret(
      made.stdout + made.stderr + JSON.stringify(json),
      handedOut,
      'credential-config',
    );

    process.env.GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES = '1';
    try {
      const auth = new GoogleAuth({keyFilename: cfg, scopes: [READONLY]});
      const client = await auth.getClient();
      assert.ok(client instanceof PluggableAuthClient);
      const res = await client.request<{email: string; scope: string}>({
        url: `${api.url}/v1/whoami`,
      });
      assert.equal(res.status, 200);
      assert.equal(
        res.data.email,
        'reporting@tvm-local.iam.gserviceaccount.com',
      );
      assert.equal(res.data.scope, READONLY);
      handedOut.push((await client.getAccessToken()).token!);
      assert.equal(lastAudit(s).client, 'cluster-export');
      assert.equal(lastAudit(s).decision, 'allow');
    } finally {
      delete process.env.GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES;
    }
  });

  void test('--executable for an API-key profile is refused with the way that works', async () => {
    const e2 = await userEnv({K: 'x'});
    await tvm(
      e2,
      'profile',
      'add',
      'key',
      '--url',
      s.url,
      '--client-id',
      'c',
      '--api-key-env',
      'K',
      '--audience',
      'reporting',
    );
    const r = await tvm(e2, 'credential-config', '--executable');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /has no OIDC token source.*--subject-token-type api-key --credential-source-file KEYFILE/,
    );
  });

  void test('a token source that is not a JWT: one line naming the profile', async () => {
    const e2 = await userEnv();
    await tvm(
      e2,
      'profile',
      'add',
      'cmd',
      '--url',
      s.url,
      '--oidc-token-command',
      'echo not-a-token',
      '--audience',
      'reporting',
    );
    const r = await tvm(e2, 'token');
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tvm token: the OIDC token source of profile cmd gave something that is not a JWT\n$/,
    );
  });

  void test('an OIDC token command: its output is the subject token', async () => {
    const e2 = await userEnv();
    await tvm(
      e2,
      'profile',
      'add',
      'cmd',
      '--url',
      s.url,
      '--oidc-token-command',
      `cat ${tokenFile}`,
      '--audience',
      'reporting',
    );
    const r = await tvm(e2, 'token', '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    handedOut.push(
      (JSON.parse(r.stdout) as {access_token: string}).access_token,
    );
  });
});
