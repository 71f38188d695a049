/**
 * Drop-in 1: Google's own client library, unmodified, reads an `external_account`
 * credential configuration whose token_url is tvm's /token and whose
 * credential_source is a file holding the caller's OIDC token (minted by an
 * independent issuer, oauth2-mock-server, on loopback). It exchanges the token at tvm
 * (RFC 8693) and calls a Google API with what tvm vended. The configuration file is
 * written by `tvm credential-config`, as a user would.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {GoogleAuth, IdentityPoolClient} from 'google-auth-library';
import {OAuth2Server} from 'oauth2-mock-server';
import {main} from '../../src/cli/main.ts';
import {assertNoSecretsLogged, newKey, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  lastAudit,
  startFakeGoogleApi,
  startOidcStack,
} from '../support/oidc.ts';

const ISSUER = 'https://ci-issuer.test';
const AUD = 'https://tvm.example.test';
const SUB = 'project_path:team/exporter:ref_type:branch:ref:main';
const READONLY = 'https://www.googleapis.com/auth/bigquery.readonly';
const keys = {exporter: newKey()};
const handedOut: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tvm-extacct-'));
const tokenFile = join(dir, 'oidc-token');
let idp: OAuth2Server;
let s: Stack;
let api: Awaited<ReturnType<typeof startFakeGoogleApi>>;

before(async () => {
  idp = new OAuth2Server();
  await idp.issuer.keys.generate('RS256');
  await idp.start(0, '127.0.0.1');
  const loopback = idp.issuer.url!;
  idp.issuer.url = ISSUER;
  s = await startOidcStack({
    fetch: fakeDns({[ISSUER]: loopback}),
    keys,
    policy: `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  ci-exporter:
    oidc:
      issuer: ${ISSUER}
      audiences: ["${AUD}"]
      claims:
        sub: {equals: "${SUB}"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        default_scopes: [bigquery.readonly]
        max_lifetime: 15m
  exporter-with-key:
    api_keys:
      - sha256: "{{KEY:exporter}}"
    oidc:
      issuer: ${ISSUER}
      audiences: [tvm-with-key]
      claims:
        sub: {equals: "${SUB}"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
  });
  api = await startFakeGoogleApi(`${s.emulator.url}/tokeninfo`);
});

after(async () => {
  await api.close();
  await s.close();
  await idp.stop();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** The IdP writes a fresh token into the file, as a CI runner or kubelet does. */
async function refreshTokenFile(aud = AUD): Promise<string> {
  const t = await idp.issuer.buildToken({
    expiresIn: 300,
    scopesOrTransform: (_h, payload) => {
      payload.sub = SUB;
      payload.aud = aud;
    },
  });
  writeFileSync(tokenFile, t);
  return t;
}

/** Runs `tvm ...args` in process (the same main() bin/tvm.js calls). */
async function tvmCli(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: {write: (c: string) => (stdout += c)},
    stderr: {write: (c: string) => (stderr += c)},
    env,
  });
  return {code, stdout, stderr};
}

void describe('external_account through google-auth-library', () => {
  void test('IdentityPoolClient with a file-sourced token calls a Google API with a tvm token', async () => {
    const cfg = join(dir, 'cred.json');
    const made = await tvmCli([
      'credential-config',
      '--token-url',
      `${s.url}/token`,
      '--audience',
      'reporting',
      '--credential-source-file',
      tokenFile,
      '--output',
      cfg,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const json = JSON.parse(readFileSync(cfg, 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(json.type, 'external_account');
    assert.equal(json.token_url, `${s.url}/token`);

    await refreshTokenFile();
    const auth = new GoogleAuth({keyFilename: cfg, scopes: [READONLY]});
    const client = await auth.getClient();
    assert.ok(client instanceof IdentityPoolClient);
    const res = await client.request<{email: string; scope: string}>({
      url: `${api.url}/v1/whoami`,
    });
    assert.equal(res.status, 200);
    assert.equal(res.data.email, 'reporting@tvm-local.iam.gserviceaccount.com');
    assert.equal(res.data.scope, READONLY);
    const {token} = await client.getAccessToken();
    handedOut.push(token!);
    const audit = lastAudit(s);
    assert.equal(audit.client, 'ci-exporter');
    assert.equal(audit.issuer, ISSUER);
    assert.equal(audit.subject, SUB);
    assert.equal(audit.decision, 'allow');
  });

  void test('with client_id and client_secret the library sends Basic, and both must agree', async () => {
    const cfg = join(dir, 'cred-key.json');
    const made = await tvmCli(
      [
        'credential-config',
        '--token-url',
        `${s.url}/token`,
        '--audience',
        'reporting',
        '--credential-source-file',
        tokenFile,
        '--client-id',
        'exporter-with-key',
        '--client-secret-env',
        'EXPORTER_KEY',
        '--output',
        cfg,
      ],
      {EXPORTER_KEY: keys.exporter},
    );
    assert.equal(made.code, 0, made.stderr);
    assert.doesNotMatch(made.stdout + made.stderr, /tvm_/);
    await refreshTokenFile('tvm-with-key');
    const client = await new GoogleAuth({
      keyFilename: cfg,
      scopes: [READONLY],
    }).getClient();
    const res = await client.request<{email: string}>({
      url: `${api.url}/v1/whoami`,
    });
    assert.equal(res.data.email, 'reporting@tvm-local.iam.gserviceaccount.com');
    handedOut.push((await client.getAccessToken()).token!);
    assert.equal(lastAudit(s).authMethod, 'subject_token+basic');
    assert.equal(lastAudit(s).client, 'exporter-with-key');
  });

  void test('an API-key client: the key is the credential source, no OIDC issuer needed', async () => {
    const keyFile = join(dir, 'api-key');
    writeFileSync(keyFile, keys.exporter, {mode: 0o600});
    const cfg = join(dir, 'cred-api-key.json');
    const made = await tvmCli([
      'credential-config',
      '--token-url',
      `${s.url}/token`,
      '--audience',
      'reporting',
      '--subject-token-type',
      'api-key',
      '--credential-source-file',
      keyFile,
      '--output',
      cfg,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const json = JSON.parse(readFileSync(cfg, 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(
      json.subject_token_type,
      'urn:tvm:params:oauth:token-type:api-key',
    );
    assert.doesNotMatch(
      JSON.stringify(json),
      /tvm_/,
      'the file names the key file, never the key',
    );

    const client = await new GoogleAuth({
      keyFilename: cfg,
      scopes: [READONLY],
    }).getClient();
    assert.ok(client instanceof IdentityPoolClient);
    const res = await client.request<{email: string; scope: string}>({
      url: `${api.url}/v1/whoami`,
    });
    assert.equal(res.status, 200);
    assert.equal(res.data.email, 'reporting@tvm-local.iam.gserviceaccount.com');
    handedOut.push((await client.getAccessToken()).token!);
    assert.equal(lastAudit(s).authMethod, 'subject_api_key');
    assert.equal(lastAudit(s).client, 'exporter-with-key');

    // A wrong key in the file: the library surfaces invalid_grant, nothing is minted.
    writeFileSync(keyFile, newKey());
    const wrong = new IdentityPoolClient({
      type: 'external_account',
      audience: 'reporting',
      subject_token_type: 'urn:tvm:params:oauth:token-type:api-key',
      token_url: `${s.url}/token`,
      credential_source: {file: keyFile},
      scopes: [READONLY],
    });
    await assert.rejects(wrong.getAccessToken(), (e: Error) => {
      assert.match(e.message, /invalid_grant/);
      assert.match(e.message, /not a valid API key/);
      return true;
    });
    assert.equal(lastAudit(s).reason, 'ERR_INVALID_GRANT');
    assert.equal(lastAudit(s).detail, 'subject_token unknown key');
  });

  // `echo "$TOKEN" > file` (Google's CI guides write token files so) ends the file in
  // a newline, CRLF on Windows runners; the library sends the file as it is.
  for (const [what, around] of [
    ['a trailing newline', (t: string) => `${t}\n`],
    ['CRLF', (t: string) => `${t}\r\n`],
    ['spaces and a tab around', (t: string) => `  ${t}\t\n`],
  ] as const) {
    void test(`a token file written by echo (${what}) works, OIDC token and API key alike`, async () => {
      const oidc = await refreshTokenFile();
      writeFileSync(tokenFile, around(oidc));
      const viaOidc = new IdentityPoolClient({
        type: 'external_account',
        audience: 'reporting',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `${s.url}/token`,
        credential_source: {file: tokenFile},
        scopes: [READONLY],
      });
      const a = await viaOidc.getAccessToken();
      assert.ok(a.token);
      handedOut.push(a.token);
      assert.equal(lastAudit(s).client, 'ci-exporter');

      const keyFile = join(dir, 'api-key-echoed');
      writeFileSync(keyFile, around(keys.exporter), {mode: 0o600});
      const viaKey = new IdentityPoolClient({
        type: 'external_account',
        audience: 'reporting',
        subject_token_type: 'urn:tvm:params:oauth:token-type:api-key',
        token_url: `${s.url}/token`,
        credential_source: {file: keyFile},
        scopes: [READONLY],
      });
      const k = await viaKey.getAccessToken();
      assert.ok(k.token);
      handedOut.push(k.token);
      assert.equal(lastAudit(s).client, 'exporter-with-key');
    });
  }

  void test('whitespace inside a credential is not tolerated', async () => {
    const keyFile = join(dir, 'api-key-split');
    const k = keys.exporter;
    writeFileSync(keyFile, `${k.slice(0, 20)} ${k.slice(20)}\n`, {mode: 0o600});
    const split = new IdentityPoolClient({
      type: 'external_account',
      audience: 'reporting',
      subject_token_type: 'urn:tvm:params:oauth:token-type:api-key',
      token_url: `${s.url}/token`,
      credential_source: {file: keyFile},
      scopes: [READONLY],
    });
    await assert.rejects(split.getAccessToken(), /invalid_grant/);
    assert.equal(lastAudit(s).detail, 'subject_token unknown key');
  });

  void test('a token for another audience: the library surfaces invalid_grant', async () => {
    await refreshTokenFile('https://someone-else.example.test');
    const client = new IdentityPoolClient({
      type: 'external_account',
      audience: 'reporting',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${s.url}/token`,
      credential_source: {file: tokenFile},
      scopes: [READONLY],
    });
    await assert.rejects(client.getAccessToken(), (e: Error) => {
      assert.match(e.message, /invalid_grant/);
      assert.match(e.message, /not an audience trusted/);
      return true;
    });
    assert.equal(lastAudit(s).reason, 'ERR_INVALID_GRANT');
  });
});
