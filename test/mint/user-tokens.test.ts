/**
 * User tokens end to end: an authorized_user credential imported with `tvm import-user`
 * into the emulator's Secret Manager (the real Secret Manager client over gRPC), then
 * vended through tvm, refreshed at the emulator's token endpoint for exactly the scopes
 * asked; tokeninfo shows the user, the OAuth client and those scopes. The cache, the
 * denials (a scope the grant does not allow, a scope the user did not consent to), a
 * revoked refresh token under a burst (one operator line, one upstream call, 502), the
 * audit lines, and no secret in any log or CLI output.
 */
import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {AuthorizedUserFile} from '../../emulator/src/index.ts';
import {main} from '../../src/cli/main.ts';
import {fingerprint} from '../../src/fingerprint.ts';
import {
  localStateDir,
  writeEmulatorFile,
} from '../../src/local/emulator-file.ts';
import {parsePolicy, PolicyError} from '../../src/policy/index.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  rememberSecret,
  renderPolicy,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {assertNoSecret, tvm, userEnv} from '../cli/run-tvm.ts';

const G = 'https://www.googleapis.com/auth/';
const CLOUD = `${G}cloud-platform`;
const EMAIL = `${G}userinfo.email`;
const BQ = `${G}bigquery.readonly`;
const IMPORTER = 'importer@tvm-local.iam.gserviceaccount.com';

const POLICY = `
version: 1
service_accounts:
  alice:
    mint: user
    email: alice@example.com
    credential_secret: projects/tvm-local/secrets/alice-credential/versions/latest
    consented_scopes: [cloud-platform, userinfo.email, bigquery.readonly, openid]
  bob:
    mint: user
    email: bob@example.com
    credential_secret: projects/tvm-local/secrets/bob-credential/versions/latest
    consented_scopes: [cloud-platform, drive.readonly]
  carol:
    mint: user
    email: carol@example.com
    credential_secret: projects/tvm-local/secrets/carol-credential/versions/latest
    consented_scopes: [userinfo.email, cloud-platform]
  hugo:
    mint: user
    email: hugo@example.com
    credential_secret: projects/tvm-local/secrets/hugo-credential/versions/latest
    consented_scopes: [devstorage.read_only, userinfo.email]
  gail:
    mint: user
    email: gail@example.com
    credential_secret: projects/tvm-local/secrets/gail-credential/versions/2
    consented_scopes: [cloud-platform]
clients:
  c1:
    api_keys:
      - sha256: "{{KEY:c1}}"
    allow:
      - service_account: alice
        scopes: [cloud-platform, userinfo.email]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
      - service_account: bob
        scopes: [cloud-platform, drive.readonly]
      - service_account: carol
        scopes: [userinfo.email, cloud-platform]
      - service_account: gail
        scopes: [cloud-platform]
      - service_account: hugo
        scopes: [devstorage.read_only]
        access_boundary:
          mode: force
          rules:
            - resource: //storage.googleapis.com/projects/_/buckets/hugo-share
              permissions: [inRole:roles/storage.objectViewer]
`;

/** The monotonic clock, movable: the refusal pause is measured on it. */
const monotonic = {
  offset: 0,
  now() {
    return performance.now() + this.offset;
  },
};
const keys = {c1: newKey()};
const handedOut: string[] = [];
const secrets: string[] = [];
let s: Stack;
let dir: string;
let importerKey: string;

before(async () => {
  s = await startStack({
    policy: POLICY,
    keys,
    env: {TVM_RATE_LIMIT_PER_IP: '100000', TVM_RATE_LIMIT_PER_CLIENT: '100000'},
    service: {monotonic},
  });
  // Whoever runs `tvm import-user` administers Secret Manager; tvm's runtime account
  // only reads the secrets (local provisioning granted it that).
  s.emulator.state.createServiceAccount({email: IMPORTER});
  s.emulator.state.grantSecretAdmin(`serviceAccount:${IMPORTER}`);
  dir = mkdtempSync(join(tmpdir(), 'tvm-import-'));
  importerKey = join(dir, 'importer.json');
  writeFileSync(
    importerKey,
    JSON.stringify(s.emulator.state.createKey(IMPORTER)),
    {mode: 0o600},
  );
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut, ...secrets]);
});
beforeEach(() => {
  s.emulator.stats.reset();
});

/** A consent of the emulated Google, as gcloud would save it; its secrets remembered. */
function consent(email: string, scopes: string[]): AuthorizedUserFile {
  const f = s.emulator.state.users.grantConsent({email, scopes});
  for (const v of [f.client_secret, f.refresh_token]) {
    rememberSecret(v);
    secrets.push(v);
  }
  return f;
}

/** Runs `tvm import-user` in-process against the emulator's Secret Manager. */
async function importUser(f: AuthorizedUserFile | string, args: string[]) {
  const path = join(dir, `adc-${secrets.length}.json`);
  writeFileSync(path, typeof f === 'string' ? f : JSON.stringify(f), {
    mode: 0o600,
  });
  let stdout = '';
  let stderr = '';
  const code = await main(['import-user', path, ...args], {
    stdout: {write: (c: string) => (stdout += c)},
    stderr: {write: (c: string) => (stderr += c)},
    env: {
      TVM_LOCAL: '1',
      TVM_SECRET_MANAGER_ENDPOINT: s.emulator.secretManagerEndpoint,
      GOOGLE_APPLICATION_CREDENTIALS: importerKey,
    },
  });
  for (const v of secrets) {
    assert.ok(!stdout.includes(v) && !stderr.includes(v), 'no secret printed');
  }
  return {code, stdout, stderr};
}

async function vend(form: Record<string, string>) {
  const r = await postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', ...form},
    {authorization: basic('c1', keys.c1)},
  );
  if (typeof r.body.access_token === 'string') {
    handedOut.push(r.body.access_token);
  }
  return r;
}

async function tokeninfo(token: string): Promise<Record<string, string>> {
  const res = await fetch(
    `${s.emulator.url}/tokeninfo?access_token=${encodeURIComponent(token)}`,
  );
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, string>;
}

const audits = () =>
  s.audits().map(l => (l as {audit: Record<string, unknown>}).audit);
const operatorLines = (message: RegExp) =>
  s.logs.filter(l => l.severity === 'ERROR' && message.test(String(l.message)));

void describe('user tokens (mint: user)', () => {
  let alice: AuthorizedUserFile;

  void test('import an authorized_user file with the CLI, then vend: tokeninfo shows the user, the client and exactly the scopes asked', async () => {
    alice = consent('alice@example.com', [CLOUD, EMAIL, BQ, 'openid']);
    const imported = await importUser(
      {...alice, quota_project_id: 'alice-proj'},
      [
        '--secret',
        'projects/tvm-local/secrets/alice-credential',
        '--email',
        'Alice@Example.com',
        '--scopes',
        'cloud-platform userinfo.email',
        '--scopes',
        'bigquery.readonly,openid',
      ],
    );
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal(imported.stderr, '');
    // Local provisioning wrote version 1; the import is version 2, which latest names.
    assert.match(
      imported.stdout,
      /as projects\/tvm-local\/secrets\/alice-credential\/versions\/2\.\n/,
    );
    assert.ok(imported.stdout.includes(alice.client_id));
    assert.ok(imported.stdout.includes(fingerprint(alice.refresh_token)));
    const entry = imported.stdout.slice(
      imported.stdout.indexOf('service_accounts:'),
    );
    assert.equal(
      entry,
      [
        'service_accounts:',
        '  alice:',
        '    mint: user',
        '    email: alice@example.com',
        '    credential_secret: projects/tvm-local/secrets/alice-credential/versions/2',
        `    consented_scopes: [${CLOUD}, ${EMAIL}, ${BQ}, openid]`,
        '',
      ].join('\n'),
    );
    // The printed entry is a valid policy entry as it stands.
    parsePolicy(
      `version: 1\n${entry}clients:\n  x:\n    api_keys: [{sha256: "${'b'.repeat(64)}"}]\n    allow: [{service_account: alice, scopes: [cloud-platform]}]\n`,
    );

    const r = await vend({
      audience: 'alice',
      scope: 'cloud-platform userinfo.email',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.scope, `${CLOUD} ${EMAIL}`);
    assert.equal(r.body.token_type, 'Bearer');
    const expiresIn = r.body.expires_in as number;
    assert.ok(expiresIn > 3500 && expiresIn <= 3600, `expires_in ${expiresIn}`);
    const info = await tokeninfo(r.body.access_token as string);
    const c = s.emulator.state.users.consent(alice.refresh_token)!;
    assert.equal(info.email, 'alice@example.com');
    assert.equal(info.sub, c.userId);
    assert.equal(
      info.aud,
      alice.client_id,
      'refreshed with the imported client',
    );
    assert.equal(
      String(info.scope).split(' ').sort().join(' '),
      [CLOUD, EMAIL].sort().join(' '),
    );
    assert.equal(info.access_type, 'offline');
    assert.equal(c.refreshRequests, 1);
    assert.equal(s.emulator.stats.count('oauth2.token'), 1);

    const a = audits().at(-1)!;
    assert.equal(a.decision, 'allow');
    assert.equal(a.reason, 'granted');
    assert.equal(a.client, 'c1');
    assert.equal(a.serviceAccount, 'alice@example.com');
    assert.deepEqual(a.scopes, [CLOUD, EMAIL]);
    assert.equal(a.lifetimeSeconds, 3600);
    assert.equal(a.cached, false);
    assert.equal(a.tokenSha256, fingerprint(r.body.access_token as string));
  });

  void test('the cache: the same request is a hit with its true remaining lifetime; other scopes refresh once more', async () => {
    const first = handedOut.at(-1)!;
    const again = await vend({
      audience: 'alice@example.com',
      scope: `${EMAIL} cloud-platform`,
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.access_token, first);
    assert.equal(audits().at(-1)!.cached, true);
    assert.ok((again.body.expires_in as number) <= 3600);
    // default_scopes: cloud-platform alone, another cache entry and one refresh.
    const other = await vend({audience: 'alice'});
    assert.equal(other.status, 200);
    assert.notEqual(other.body.access_token, first);
    assert.equal(other.body.scope, CLOUD);
    assert.equal(
      (await tokeninfo(other.body.access_token as string)).scope,
      CLOUD,
    );
    const third = await vend({audience: 'alice'});
    assert.equal(third.body.access_token, other.body.access_token);
    assert.equal(s.emulator.stats.count('oauth2.token'), 1);
    assert.equal(
      s.emulator.state.users.consent(alice.refresh_token)!.refreshRequests,
      2,
    );
  });

  void test('a burst of identical requests on a cold cache makes one refresh', async () => {
    s.service.tokenCache.clear();
    const n = s.emulator.state.users.consent(
      alice.refresh_token,
    )!.refreshRequests;
    const rs = await Promise.all(
      Array.from({length: 20}, () =>
        vend({audience: 'alice', scope: 'userinfo.email'}),
      ),
    );
    assert.ok(rs.every(r => r.status === 200));
    assert.equal(new Set(rs.map(r => r.body.access_token)).size, 1);
    assert.equal(
      s.emulator.state.users.consent(alice.refresh_token)!.refreshRequests,
      n + 1,
    );
  });

  void describe('denials', () => {
    const cases: Array<{
      name: string;
      form: Record<string, string>;
      status: number;
      error: string;
      description: RegExp;
      reason: string;
    }> = [
      {
        name: 'a scope the user consented to but the grant does not allow',
        form: {audience: 'alice', scope: 'bigquery.readonly'},
        status: 400,
        error: 'invalid_scope',
        description:
          /^scope not granted for this service account: https:\/\/www\.googleapis\.com\/auth\/bigquery\.readonly$/,
        reason: 'ERR_INVALID_SCOPE',
      },
      {
        name: 'a scope neither consented nor granted',
        form: {audience: 'alice', scope: 'cloud-platform drive'},
        status: 400,
        error: 'invalid_scope',
        description:
          /^scope not granted for this service account: https:\/\/www\.googleapis\.com\/auth\/drive$/,
        reason: 'ERR_INVALID_SCOPE',
      },
      {
        name: 'a lifetime shorter than Google’s refresh grant issues',
        form: {audience: 'alice', lifetime: '900'},
        status: 400,
        error: 'invalid_request',
        description:
          /^tokens for this service account live 3600 seconds; lifetime must be at least that$/,
        reason: 'ERR_INVALID_REQUEST',
      },
      {
        name: 'a lifetime over the grant',
        form: {audience: 'alice', lifetime: '7200'},
        status: 400,
        error: 'invalid_request',
        description:
          /^lifetime must be between 60 and 3600 seconds for this grant$/,
        reason: 'ERR_INVALID_REQUEST',
      },
      {
        name: 'a user the client is not granted',
        form: {audience: 'dave@example.com', scope: 'cloud-platform'},
        status: 403,
        error: 'invalid_target',
        description:
          /^this client is not granted the requested service account$/,
        reason: 'ERR_INVALID_TARGET',
      },
    ];
    for (const c of cases) {
      void test(c.name, async () => {
        const r = await vend(c.form);
        assert.equal(r.status, c.status);
        assert.equal(r.body.error, c.error);
        assert.match(String(r.body.error_description), c.description);
        const a = audits().at(-1)!;
        assert.equal(a.decision, 'deny');
        assert.equal(a.reason, c.reason);
        assert.equal(
          s.emulator.stats.count('oauth2.token'),
          0,
          'Google is not asked',
        );
      });
    }

    void test('a grant naming a scope outside consented_scopes is refused at load, with its path', () => {
      const bad = POLICY.replace(
        'scopes: [cloud-platform, userinfo.email]',
        'scopes: [cloud-platform, userinfo.email, drive]',
      ).replace('"{{KEY:c1}}"', `"${'a'.repeat(64)}"`);
      assert.throws(
        () => parsePolicy(bad),
        (e: unknown) =>
          e instanceof PolicyError &&
          e.issues.length === 1 &&
          e.issues[0]!.path === 'clients.c1.allow[0].scopes[2]' &&
          e.issues[0]!.message ===
            `${G}drive is not in service_accounts.alice.consented_scopes: the user did not consent to it, so Google would refuse to refresh for it`,
      );
    });

    void test('consented_scopes saying more than the user consented to: Google’s invalid_scope is a 502 and one operator line, those scopes paused, others served', async () => {
      // Bob's imported consent covers cloud-platform only; the policy claims drive too.
      const bob = consent('bob@example.com', [CLOUD]);
      const imported = await importUser(bob, [
        '--secret',
        'projects/tvm-local/secrets/bob-credential',
      ]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stdout, /email: <the user's email>/);
      const before = operatorLines(/^user scopes refused by Google/).length;
      const r = await vend({audience: 'bob', scope: 'drive.readonly'});
      assert.equal(r.status, 502);
      assert.deepEqual(r.body, {
        error: 'temporarily_unavailable',
        error_description:
          "Google refused the user's stored credential; the operator has been told",
      });
      const a = audits().at(-1)!;
      assert.equal(a.reason, 'ERR_USER_CREDENTIAL_REFUSED');
      assert.match(
        String(a.detail),
        /^Google refused to refresh user bob \(bob@example\.com\) for https:\/\/www\.googleapis\.com\/auth\/drive\.readonly: invalid_scope; not asked again for 60s$/,
      );
      const again = await vend({audience: 'bob', scope: 'drive.readonly'});
      assert.equal(again.status, 502);
      assert.equal(
        s.emulator.state.users.consent(bob.refresh_token)!.refreshRequests,
        1,
      );
      assert.equal(
        operatorLines(/^user scopes refused by Google/).length,
        before + 1,
      );
      const fine = await vend({audience: 'bob', scope: 'cloud-platform'});
      assert.equal(fine.status, 200);
      assert.equal(
        (await tokeninfo(fine.body.access_token as string)).sub,
        s.emulator.state.users.consent(bob.refresh_token)!.userId,
      );
    });
  });

  void test('a revoked refresh token: a burst of 50 gets 502 with Retry-After, one upstream call, one operator line; after the pause one more; a new import is picked up', async () => {
    const carol = consent('carol@example.com', [CLOUD]);
    const imported = await importUser(carol, [
      '--secret',
      'projects/tvm-local/secrets/carol-credential',
      '--email',
      'carol@example.com',
      '--scopes',
      'cloud-platform',
    ]);
    assert.equal(imported.code, 0, imported.stderr);
    const ok = await vend({audience: 'carol', scope: 'cloud-platform'});
    assert.equal(ok.status, 200);
    s.service.tokenCache.clear();
    s.emulator.state.users.revoke(carol.refresh_token);
    const linesBefore = s.logs.length;
    const refreshesBefore = s.emulator.state.users.consent(
      carol.refresh_token,
    )!.refreshRequests;

    const burst = await Promise.all(
      Array.from({length: 50}, () =>
        vend({audience: 'carol', scope: 'cloud-platform'}),
      ),
    );
    for (const r of burst) {
      assert.equal(r.status, 502);
      assert.deepEqual(r.body, {
        error: 'temporarily_unavailable',
        error_description:
          "Google refused the user's stored credential; the operator has been told",
      });
      const after = Number(r.headers.get('retry-after'));
      assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
    }
    const refreshes = () =>
      s.emulator.state.users.consent(carol.refresh_token)!.refreshRequests;
    assert.equal(
      refreshes(),
      refreshesBefore + 1,
      'one upstream call for the burst',
    );
    const newLines = s.logs.slice(linesBefore);
    const told = newLines.filter(l => l.severity === 'ERROR');
    assert.equal(told.length, 1, 'one operator line');
    assert.equal(
      told[0]!.message,
      'user credential refused by Google (invalid_grant): import a new one with tvm import-user and point credential_secret at it; tvm asks Google again in 60s',
    );
    assert.deepEqual(told[0]!.user, {
      alias: 'carol',
      email: 'carol@example.com',
      credentialSecret:
        'projects/tvm-local/secrets/carol-credential/versions/latest',
    });
    assert.deepEqual(told[0]!.error, {
      code: 'ERR_USER_CREDENTIAL_REFUSED',
      google: 'invalid_grant',
      googleStatus: 400,
      description: 'Token has been expired or revoked.',
    });
    const denied = newLines.filter(
      l =>
        (l as {audit?: {reason?: string}}).audit?.reason ===
        'ERR_USER_CREDENTIAL_REFUSED',
    );
    assert.equal(denied.length, 50, 'every refusal audited');
    for (const l of denied) {
      const a = (l as {audit: Record<string, unknown>}).audit;
      assert.equal(a.serviceAccount, 'carol@example.com');
      assert.equal(l.severity, 'WARNING');
      assert.match(
        String(a.detail),
        /^Google refused the credential of user carol \(carol@example\.com\) in projects\/tvm-local\/secrets\/carol-credential\/versions\/latest: invalid_grant; not asked again for 60s$/,
      );
    }

    // Within the pause, nothing reaches Google or Secret Manager.
    const reads = s.emulator.stats.count('secretmanager.access');
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await vend({audience: 'carol', scope: 'cloud-platform'})).status,
        502,
      );
    }
    assert.equal(refreshes(), refreshesBefore + 1);
    assert.equal(s.emulator.stats.count('secretmanager.access'), reads);

    // After the pause: one more attempt (the credential read again), one more line.
    monotonic.offset += 61_000;
    const later = await vend({audience: 'carol', scope: 'cloud-platform'});
    assert.equal(later.status, 502);
    assert.equal(refreshes(), refreshesBefore + 2);
    assert.equal(s.emulator.stats.count('secretmanager.access'), reads + 1);
    assert.equal(
      s.logs.slice(linesBefore).filter(l => l.severity === 'ERROR').length,
      2,
    );

    // After the next pause, callers asking for different scope sets at once: one
    // refresh finds the credential refused, the others wait for it and are told so.
    monotonic.offset += 61_000;
    const mixed = await Promise.all(
      ['cloud-platform', 'userinfo.email', 'cloud-platform userinfo.email']
        .flatMap(scope => Array.from({length: 5}, () => scope))
        .map(scope => vend({audience: 'carol', scope})),
    );
    for (const r of mixed) assert.equal(r.status, 502);
    assert.equal(refreshes(), refreshesBefore + 3, 'one upstream call');
    assert.equal(
      s.logs.slice(linesBefore).filter(l => l.severity === 'ERROR').length,
      3,
    );

    // The operator imports a new consent; after the next pause it is used.
    const renewed = consent('carol@example.com', [CLOUD]);
    assert.equal(
      (
        await importUser(renewed, [
          '--secret',
          'projects/tvm-local/secrets/carol-credential',
        ])
      ).code,
      0,
    );
    monotonic.offset += 61_000;
    const back = await vend({audience: 'carol', scope: 'cloud-platform'});
    assert.equal(back.status, 200);
    assert.equal(
      (await tokeninfo(back.body.access_token as string)).aud,
      renewed.client_id,
    );
    assert.equal(
      refreshes(),
      refreshesBefore + 3,
      'the revoked token is not used again',
    );
  });

  void test('local mode: an emulator.json that names another machine, or that others may write, is refused before anything is sent', async () => {
    const env = await userEnv({PORT: '18124'});
    const stateDir = localStateDir(env.HOME!, 18124);
    mkdirSync(stateDir, {recursive: true});
    await writeEmulatorFile(stateDir, s.emulator);
    const emulatorJson = join(stateDir, 'emulator.json');
    const honest = JSON.parse(readFileSync(emulatorJson, 'utf8')) as Record<
      string,
      string
    >;
    const file = {
      client_id:
        '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
      client_secret: `d-${randomBytes(16).toString('base64url')}`,
      refresh_token: `1//0g${randomBytes(70).toString('base64url')}`,
      type: 'authorized_user',
    };
    for (const v of [file.client_secret, file.refresh_token]) {
      rememberSecret(v);
      secrets.push(v);
    }
    const path = join(env.HOME!, 'adc.json');
    writeFileSync(path, JSON.stringify(file), {mode: 0o600});
    const importLocal = () =>
      tvm(
        env,
        'import-user',
        path,
        '--local',
        '--email',
        'eve@example.com',
        '--scopes',
        'cloud-platform',
      );
    for (const [what, change, want] of [
      [
        'a url off this machine',
        {url: 'http://attacker.example:80'},
        /names an emulator that is not on this machine: refused/,
      ],
      [
        'a Secret Manager off this machine',
        {secretManager: 'attacker.example:443'},
        /names an emulator that is not on this machine: refused/,
      ],
    ] as const) {
      writeFileSync(emulatorJson, JSON.stringify({...honest, ...change}), {
        mode: 0o600,
      });
      const r = await importLocal();
      assert.equal(r.code, 2, what);
      assert.match(r.stderr, want, what);
      assertNoSecret(r.stdout + r.stderr, secrets, what);
    }
    writeFileSync(emulatorJson, JSON.stringify(honest));
    chmodSync(emulatorJson, 0o666);
    const loose = await importLocal();
    assert.equal(loose.code, 2);
    assert.match(loose.stderr, /may be written by others \(mode 666\)/);

    // A file left by a local mode that stopped: its ports answer as another emulator.
    chmodSync(emulatorJson, 0o600);
    writeFileSync(
      emulatorJson,
      JSON.stringify({...honest, instance: 'f'.repeat(32)}),
    );
    const stale = await importLocal();
    assert.equal(stale.code, 2);
    assert.match(stale.stderr, /is not running \(its emulator does not answer/);

    // A link in place of the file (to one that would pass every other check).
    const elsewhere = join(env.HOME!, 'elsewhere.json');
    writeFileSync(elsewhere, JSON.stringify(honest), {mode: 0o600});
    rmSync(emulatorJson);
    symlinkSync(elsewhere, emulatorJson);
    const linked = await importLocal();
    assert.equal(linked.code, 2);
    assert.match(linked.stderr, /emulator\.json is a symbolic link: refused/);

    // A folder others may write (they could swap the file in it).
    rmSync(emulatorJson);
    writeFileSync(emulatorJson, JSON.stringify(honest), {mode: 0o600});
    chmodSync(stateDir, 0o777);
    const open = await importLocal();
    chmodSync(stateDir, 0o700);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /18124 may be written by others \(mode 777\)/);
    assert.equal(s.emulator.state.users.consent(file.refresh_token), undefined);
  });

  void test('local mode: tvm import-user --local (bin/tvm.js, as a user runs it) stores a credential made elsewhere and tells the emulator; the printed entry, pasted, vends', async () => {
    // What npm start leaves for the command (scripts/start.ts), for this stack.
    const env = await userEnv({PORT: '18123'});
    const stateDir = localStateDir(env.HOME!, 18123);
    mkdirSync(stateDir, {recursive: true});
    await writeEmulatorFile(stateDir, s.emulator);
    // A credential the emulated Google never issued, as gcloud would have saved it.
    const file = {
      account: '',
      client_id:
        '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
      client_secret: `d-${randomBytes(16).toString('base64url')}`,
      quota_project_id: 'dan-proj',
      refresh_token: `1//0g${randomBytes(70).toString('base64url')}`,
      type: 'authorized_user',
      universe_domain: 'googleapis.com',
    };
    for (const v of [file.client_secret, file.refresh_token]) {
      rememberSecret(v);
      secrets.push(v);
    }
    const path = join(env.HOME!, 'application_default_credentials.json');
    writeFileSync(path, JSON.stringify(file), {mode: 0o600});
    const r = await tvm(
      env,
      'import-user',
      path,
      '--local',
      '--email',
      'dan@example.com',
      '--scopes',
      'cloud-platform',
    );
    assertNoSecret(r.stdout + r.stderr, secrets, 'tvm import-user --local');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /as projects\/tvm-local\/secrets\/dan-credential\/versions\/1 \(a new secret\)\./,
    );
    assert.match(
      r.stdout,
      /The local emulator now honours it for dan@example\.com with 1 consented scope\./,
    );
    const c = s.emulator.state.users.consent(file.refresh_token)!;
    assert.equal(c.email, 'dan@example.com');
    assert.deepEqual(c.scopes, [CLOUD]);
    assert.equal(c.clientId, file.client_id);

    // Paste the printed entry and grant it; the policy is re-read.
    const entry = r.stdout
      .slice(
        r.stdout.indexOf('service_accounts:\n') + 'service_accounts:\n'.length,
      )
      .trimEnd();
    writeFileSync(
      s.policyPath,
      renderPolicy(
        POLICY.replace('service_accounts:\n', `service_accounts:\n${entry}\n`) +
          '      - service_account: dan\n        scopes: [cloud-platform]\n',
        keys,
      ),
    );
    await s.service.policies.refresh();
    assert.equal(
      s.service.policies.current()?.serviceAccounts.get('dan')?.mint,
      'user',
    );
    const v = await vend({audience: 'dan', scope: 'cloud-platform'});
    assert.equal(v.status, 200, JSON.stringify(v.body));
    const info = await tokeninfo(v.body.access_token as string);
    assert.equal(info.aud, file.client_id);
    assert.equal(info.sub, c.userId);
    assert.equal(
      s.emulator.state.users.consent(file.refresh_token)!.refreshRequests,
      1,
    );
  });

  void test('a secret that does not hold an authorized_user credential: 502, the problems named, nothing of the secret said, Google not asked', async () => {
    // Version 2 of gail's secret holds a service-account key instead.
    const key = JSON.stringify(s.emulator.state.createKey(IMPORTER));
    s.emulator.state.setSecretVersionState(
      'projects/tvm-local/secrets/gail-credential/versions/2',
      'DESTROYED',
    );
    s.emulator.state.addSecretVersion(
      'projects/tvm-local/secrets/gail-credential',
      key,
    );
    const policy = POLICY.replace(
      'gail-credential/versions/2',
      'gail-credential/versions/3',
    );
    writeFileSync(s.policyPath, renderPolicy(policy, keys));
    await s.service.policies.refresh();
    const r = await vend({audience: 'gail', scope: 'cloud-platform'});
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'temporarily_unavailable');
    const a = audits().at(-1)!;
    assert.equal(a.reason, 'ERR_UPSTREAM_REFUSED');
    assert.equal(
      a.detail,
      'secret projects/tvm-local/secrets/gail-credential/versions/3 does not hold an authorized_user credential (project_id: unknown key; private_key_id: unknown key; private_key: unknown key; client_email: unknown key; auth_uri: unknown key; token_uri: unknown key; auth_provider_x509_cert_url: unknown key; client_x509_cert_url: unknown key; type: must be "authorized_user", not "service_account"; client_id: must be an OAuth client id, <number>-<id>.apps.googleusercontent.com; client_secret: must be 1 to 256 printable characters without spaces; refresh_token: must be 1 to 2048 printable characters without spaces)',
    );
    assert.equal(s.emulator.stats.count('oauth2.token'), 0);
    writeFileSync(s.policyPath, renderPolicy(POLICY, keys));
    await s.service.policies.refresh();
  });

  void test('a grant with an access boundary downscopes the user’s token at STS: one refresh, one exchange, then the cache', async () => {
    const r = await vend({audience: 'hugo', scope: 'devstorage.read_only'});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.scope, `${G}devstorage.read_only`);
    const info = await tokeninfo(r.body.access_token as string);
    assert.equal(info.email, 'hugo@example.com');
    assert.equal(info.scope, `${G}devstorage.read_only`);
    assert.deepEqual(JSON.parse(String(info.access_boundary)), {
      accessBoundary: {
        accessBoundaryRules: [
          {
            availableResource:
              '//storage.googleapis.com/projects/_/buckets/hugo-share',
            availablePermissions: ['inRole:roles/storage.objectViewer'],
          },
        ],
      },
    });
    assert.equal(s.emulator.stats.count('oauth2.token'), 1);
    assert.equal(s.emulator.stats.count('sts.token'), 1);
    const a = audits().at(-1)!;
    assert.equal(a.serviceAccount, 'hugo@example.com');
    assert.deepEqual((a.accessBoundary as {resources: string[]}).resources, [
      '//storage.googleapis.com/projects/_/buckets/hugo-share',
    ]);
    const again = await vend({audience: 'hugo', scope: 'devstorage.read_only'});
    assert.equal(again.body.access_token, r.body.access_token);
    assert.equal(audits().at(-1)!.cached, true);
    assert.equal(s.emulator.stats.count('oauth2.token'), 1);
    assert.equal(s.emulator.stats.count('sts.token'), 1);

    // The entry pointed at another credential secret (here: a pinned version):
    // nothing made from the old one is handed out, downscoped tokens included.
    writeFileSync(
      s.policyPath,
      renderPolicy(POLICY, keys).replace(
        'hugo-credential/versions/latest',
        'hugo-credential/versions/1',
      ),
    );
    await s.service.policies.refresh();
    const repointed = await vend({
      audience: 'hugo',
      scope: 'devstorage.read_only',
    });
    assert.equal(repointed.status, 200, JSON.stringify(repointed.body));
    assert.notEqual(repointed.body.access_token, r.body.access_token);
    assert.equal(audits().at(-1)!.cached, false);
    assert.equal(s.emulator.stats.count('oauth2.token'), 2);
    assert.equal(s.emulator.stats.count('sts.token'), 2);
    writeFileSync(s.policyPath, renderPolicy(POLICY, keys));
    await s.service.policies.refresh();
  });

  void test('the IAM-shaped route vends a user token too, under the same policy', async () => {
    const res = await fetch(
      `${s.url}/v1/projects/-/serviceAccounts/alice@example.com:generateAccessToken`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${keys.c1}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({scope: [EMAIL]}),
      },
    );
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      accessToken: string;
      expireTime: string;
    };
    handedOut.push(body.accessToken);
    const info = await tokeninfo(body.accessToken);
    assert.equal(info.email, 'alice@example.com');
    assert.equal(info.scope, EMAIL);
  });
});

void describe('tvm import-user refuses what is not an authorized_user credential', () => {
  const cases: Array<{name: string; file: string; problems: string[]}> = [
    {
      name: 'a service-account key file',
      file: JSON.stringify({
        type: 'service_account',
        client_email: 'x@y.iam.gserviceaccount.com',
        private_key: 'secret-ish',
      }),
      problems: [
        'client_email: unknown key',
        'private_key: unknown key',
        'type: must be "authorized_user", not "service_account"',
        'client_id: must be an OAuth client id, <number>-<id>.apps.googleusercontent.com',
        'client_secret: must be 1 to 256 printable characters without spaces',
        'refresh_token: must be 1 to 2048 printable characters without spaces',
      ],
    },
    {
      name: 'a refresh token with a space, a foreign universe, a pasted secret as a key',
      file: JSON.stringify({
        type: 'authorized_user',
        client_id: '1234-abc.apps.googleusercontent.com',
        client_secret: 'GOCSPX-fine',
        refresh_token: '1//0g with space-SECRETVALUE',
        universe_domain: 'example.com',
        '1//0gPASTEDSECRET': 'x',
      }),
      problems: [
        '(a key that is not a plain name): unknown key',
        'refresh_token: must be 1 to 2048 printable characters without spaces',
        "universe_domain: must be googleapis.com (tvm talks to Google Cloud's default universe)",
      ],
    },
    {
      name: 'not JSON',
      file: 'refresh_token=1//0gSECRETVALUE',
      problems: ['not JSON'],
    },
    {name: 'a JSON list', file: '[]', problems: ['not a JSON object']},
    {
      name: 'more than 16 KiB',
      file: JSON.stringify({type: 'authorized_user', pad: 'x'.repeat(17000)}),
      problems: ['larger than 16384 bytes'],
    },
  ];
  void test('a pipe that never ends (no size to stat): refused after reading one byte past the limit', async () => {
    const fifo = join(dir, `adc-fifo-${secrets.length}`);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // 64 MiB offered; tvm must stop after 16 KiB and one byte.
    const writer = spawn(
      'sh',
      ['-c', `head -c 67108864 /dev/zero > '${fifo}'`],
      {
        stdio: 'ignore',
      },
    );
    let stderr = '';
    const before = process.memoryUsage().rss;
    const code = await main(
      ['import-user', fifo, '--secret', 'projects/tvm-local/secrets/never'],
      {
        stdout: {write: () => true},
        stderr: {write: (c: string) => (stderr += c)},
        env: {
          TVM_LOCAL: '1',
          TVM_SECRET_MANAGER_ENDPOINT: s.emulator.secretManagerEndpoint,
          GOOGLE_APPLICATION_CREDENTIALS: importerKey,
        },
      },
    );
    const grew = process.memoryUsage().rss - before;
    await new Promise(r => writer.once('exit', r));
    assert.equal(code, 1);
    assert.match(stderr, /larger than 16384 bytes/);
    assert.ok(grew < 32 * 1024 * 1024, `RSS grew ${grew} bytes`);
  });

  for (const c of cases) {
    void test(c.name, async () => {
      const r = await importUser(c.file, [
        '--secret',
        'projects/tvm-local/secrets/never',
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.deepEqual(
        lines.slice(0, -1).map(l => l.replace(/^tvm import-user: \S+: /, '')),
        c.problems,
      );
      assert.match(
        lines.at(-1)!,
        /is not an authorized_user credential \(\d+ problems?\); nothing was stored$/,
      );
      assert.ok(!/SECRETVALUE|PASTEDSECRET|secret-ish/.test(r.stderr));
    });
  }

  void test('usage errors: no --secret, a version in --secret, a bad email, --local without its email and scopes', async () => {
    const f = consent('erin@example.com', [CLOUD]);
    const cases: Array<[string[], RegExp]> = [
      [[], /--secret projects\/P\/secrets\/S is required \(or --local\)/],
      [
        ['--secret', 'projects/tvm-local/secrets/x/versions/1'],
        /--secret must be projects\/PROJECT\/secrets\/SECRET \(no \/versions\/\)/,
      ],
      [
        [
          '--secret',
          'projects/tvm-local/secrets/x',
          '--email',
          'svc@p.iam.gserviceaccount.com',
        ],
        /--email must be the user's email/,
      ],
      [
        ['--secret', 'projects/tvm-local/secrets/x', '--scopes', 'no:such'],
        /--scopes: "no:such" is not a Google API scope/,
      ],
      [['--local'], /--local needs --email and --scopes/],
    ];
    for (const [args, message] of cases) {
      const r = await importUser(f, args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  void test('Secret Manager refusing the importer is a clear failure, and nothing secret is said', async () => {
    const f = consent('frank@example.com', [CLOUD]);
    const r = await importUser(f, [
      '--secret',
      'projects/other-proj/secrets/frank',
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'tvm import-user: projects/other-proj/secrets/frank: Secret Manager AddSecretVersion projects/other-proj/secrets/frank: PERMISSION_DENIED\n',
    );
  });
});
