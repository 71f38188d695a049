/**
 * `tvm policy explain` and `tvm credential-config`, run through the CLI's main() with
 * captured output: the decision and its reasons for a client or a token (offline, the
 * signature checked only against a pinned JWKS), and the credential file Google's
 * libraries read.
 */
import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {exportJWK, generateKeyPair, SignJWT, type CryptoKey} from 'jose';
import {main} from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'tvm-explain-'));
const policyFile = join(dir, 'policy.yaml');
const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const t = NOW / 1000;
let ciKey: CryptoKey;
let pinnedKey: CryptoKey;

async function tvm(args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: {write: (c: string) => (stdout += c)},
    stderr: {write: (c: string) => (stderr += c)},
    now: () => NOW,
    env,
  });
  return {code, stdout, stderr};
}

before(async () => {
  ciKey = (await generateKeyPair('RS256')).privateKey;
  const pinned = await generateKeyPair('ES256', {extractable: true});
  pinnedKey = pinned.privateKey;
  const jwk = {...(await exportJWK(pinned.publicKey)), kid: 'p1'};
  writeFileSync(
    policyFile,
    `
version: 1
service_accounts:
  reporting:
    email: reporting@my-proj.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: "${'a'.repeat(64)}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
  gha-main:
    oidc:
      issuer: https://token.actions.githubusercontent.com
      audiences: [https://tvm.example.com]
      claims:
        sub: {pattern: "repo:my-org/*:ref:refs/heads/main"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
  cluster:
    oidc:
      issuer: https://cluster.example.com
      audiences: [tvm]
      jwks: {"keys": [${JSON.stringify(jwk)}]}
      claims:
        sub: {equals: "system:serviceaccount:jobs:export"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
  );
});

const gha = (sub: string, extra: Record<string, unknown> = {}) =>
  new SignJWT({
    iss: 'https://token.actions.githubusercontent.com',
    sub,
    aud: 'https://tvm.example.com',
    iat: t,
    exp: t + 300,
    ...extra,
  })
    .setProtectedHeader({alg: 'RS256', kid: 'x'})
    .sign(ciKey);

const cluster = (key: CryptoKey) =>
  new SignJWT({
    iss: 'https://cluster.example.com',
    sub: 'system:serviceaccount:jobs:export',
    aud: 'tvm',
    iat: t,
    exp: t + 600,
  })
    .setProtectedHeader({alg: 'ES256', kid: 'p1'})
    .sign(key);

const explain = (...rest: string[]) =>
  tvm([
    'policy',
    'explain',
    '--policy',
    policyFile,
    '--audience',
    'reporting',
    ...rest,
  ]);

void describe('tvm policy explain', () => {
  void test('a client: ALLOW with the account, scopes and lifetime', async () => {
    const r = await explain(
      '--client',
      'nightly',
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /caller: client nightly \(its credentials are not checked offline\)/,
    );
    assert.match(
      r.stdout,
      /decision: ALLOW reporting@my-proj\.iam\.gserviceaccount\.com \(reporting\), mint impersonate/,
    );
    assert.match(r.stdout, /lifetime: 900s/);
  });

  void test('a client asking a scope beyond its grant: DENY with the reason', async () => {
    const r = await explain('--client', 'nightly', '--scope', 'cloud-platform');
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /decision: DENY\n {2}because: ERR_INVALID_SCOPE: scope not granted/,
    );
  });

  void test('repeated --scope: every one is checked, not only the last', async () => {
    const r = await explain(
      '--client',
      'nightly',
      '--scope',
      'cloud-platform',
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /because: ERR_INVALID_SCOPE: scope not granted for this service account: https:\/\/www\.googleapis\.com\/auth\/cloud-platform/,
    );
    const ok = await explain(
      '--client',
      'nightly',
      '--scope',
      'bigquery.readonly',
      '--scope',
      'https://www.googleapis.com/auth/bigquery.readonly',
    );
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(
      ok.stdout,
      /scopes: https:\/\/www\.googleapis\.com\/auth\/bigquery\.readonly\n/,
    );
  });

  void test('an unknown client: DENY', async () => {
    const r = await explain('--client', 'ghost');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /no client "ghost" in the policy/);
  });

  void test('a token of a discovery issuer: ALLOW, and it says the signature was not verified', async () => {
    const r = await explain(
      '--token',
      await gha('repo:my-org/app:ref:refs/heads/main'),
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /signature: NOT verified \(offline/);
    assert.match(
      r.stdout,
      /client: gha-main\n {2}met: sub pattern "repo:my-org\/\*:ref:refs\/heads\/main"/,
    );
    assert.match(r.stdout, /decision: ALLOW/);
  });

  void test('a token whose claim fails: DENY naming the claim and the condition', async () => {
    const r = await explain(
      '--token',
      await gha('repo:my-org/app:ref:refs/heads/dev'),
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /decision: DENY/);
    assert.match(
      r.stdout,
      /gha-main: claim sub "repo:my-org\/app:ref:refs\/heads\/dev" does not match \(condition: sub pattern "repo:my-org\/\*:ref:refs\/heads\/main"\)/,
    );
  });

  void test('an expired token: DENY even offline', async () => {
    const r = await explain(
      '--token',
      await gha('repo:my-org/app:ref:refs/heads/main', {exp: t - 3600}),
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /the token expired at 2026-11-29T11:00:00\.000Z/);
  });

  void test("the service's own rules apply offline too: no access token, no token living over a day", async () => {
    const accessToken = await new SignJWT({
      iss: 'https://token.actions.githubusercontent.com',
      sub: 'repo:my-org/app:ref:refs/heads/main',
      aud: 'https://tvm.example.com',
      iat: t,
      exp: t + 300,
    })
      .setProtectedHeader({alg: 'RS256', kid: 'x', typ: 'at+jwt'})
      .sign(ciKey);
    const typed = await explain('--token', accessToken);
    assert.equal(typed.code, 1);
    assert.match(typed.stdout, /decision: DENY/);
    assert.match(typed.stdout, /not an identity token/);
    const longLived = await explain(
      '--token',
      await gha('repo:my-org/app:ref:refs/heads/main', {exp: t + 3 * 86400}),
    );
    assert.equal(longLived.code, 1);
    assert.match(longLived.stdout, /lives too long/);
  });

  void test('a pinned JWKS: the signature is verified, and a forgery is refused', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, `${await cluster(pinnedKey)}\n`);
    const ok = await explain(
      '--token-file',
      file,
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(
      ok.stdout,
      /signature: verified with the JWKS pinned in the policy/,
    );
    const forged = await explain(
      '--token',
      await cluster((await generateKeyPair('ES256')).privateKey),
    );
    assert.equal(forged.code, 1);
    assert.match(forged.stdout, /signature does not verify .*pinned JWKS/);
  });

  void test('an untrusted issuer: DENY', async () => {
    const token = await new SignJWT({
      iss: 'https://evil.example.com',
      sub: 'x',
      aud: 'tvm',
      exp: t + 60,
    })
      .setProtectedHeader({alg: 'RS256'})
      .sign(ciKey);
    const r = await explain('--token', token);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /issuer "https:\/\/evil\.example\.com" is trusted by no client/,
    );
  });

  void test('usage errors exit 2', async () => {
    assert.equal((await explain()).code, 2);
    assert.equal((await explain('--client', 'a', '--token', 'b')).code, 2);
    assert.equal(
      (await explain('--client', 'nightly', '--lifetime', '10m')).code,
      2,
    );
  });
});

void describe('tvm credential-config', () => {
  const base = [
    'credential-config',
    '--token-url',
    'https://tvm.example.com/token',
    '--audience',
    'reporting',
    '--credential-source-file',
    '/var/run/secrets/tokens/tvm',
  ];

  void test('prints an external_account configuration', async () => {
    const r = await tvm(base);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      type: 'external_account',
      audience: 'reporting',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: 'https://tvm.example.com/token',
      credential_source: {
        file: '/var/run/secrets/tokens/tvm',
        format: {type: 'text'},
      },
      universe_domain: 'googleapis.com',
    });
  });

  void test('a client secret comes from the environment; the file is 0600', async () => {
    const out = join(dir, 'cred.json');
    const r = await tvm(
      [
        ...base,
        '--client-id',
        'nightly',
        '--client-secret-env',
        'K',
        '--output',
        out,
      ],
      {K: 'tvm_secret-value'},
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /secret-value/);
    const json = JSON.parse(readFileSync(out, 'utf8')) as Record<
      string,
      string
    >;
    assert.equal(json.client_id, 'nightly');
    assert.equal(json.client_secret, 'tvm_secret-value');
    assert.equal(statSync(out).mode & 0o777, 0o600);
  });

  void test('an existing output file readable by others becomes 0600 before the secret is in it', async () => {
    const out = join(dir, 'cred-existing.json');
    writeFileSync(out, '{}\n', {mode: 0o644});
    chmodSync(out, 0o644);
    const r = await tvm(
      [
        ...base,
        '--client-id',
        'nightly',
        '--client-secret-env',
        'K',
        '--output',
        out,
      ],
      {K: 'tvm_secret-value'},
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(readFileSync(out, 'utf8'), /tvm_secret-value/);
  });

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    [
      'no audience',
      base.filter(a => a !== '--audience' && a !== 'reporting'),
      {},
      /--audience/,
    ],
    [
      'plain http to a remote host',
      base.map(a =>
        a.startsWith('https://tvm') ? 'http://tvm.example.com/token' : a,
      ),
      {},
      /--token-url/,
    ],
    [
      'two sources',
      [...base, '--credential-source-url', 'http://127.0.0.1/t'],
      {},
      /exactly one/,
    ],
    [
      'a client id without a secret',
      [...base, '--client-id', 'x'],
      {},
      /go together/,
    ],
    [
      'an unset secret variable',
      [...base, '--client-id', 'x', '--client-secret-env', 'NOPE'],
      {},
      /NOPE is empty or unset/,
    ],
    [
      'an unknown token type',
      [...base, '--subject-token-type', 'saml'],
      {},
      /jwt, id_token or api-key/,
    ],
  ];
  for (const [name, args, env, message] of bad) {
    void test(`${name}: exit 2`, async () => {
      const r = await tvm(args, env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }
});
