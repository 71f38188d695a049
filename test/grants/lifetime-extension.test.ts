/**
 * Lifetimes up to 12 hours, for accounts on the organisation's lifetime-extension list
 * (`lifetime_extension: true`, constraints/iam.allowServiceAccountCredentialLifetimeExtension):
 * a 43 200 s token end to end (the token endpoint and Impersonated, the lifetime as
 * Google's tokeninfo reports it, the cache invariant), Google refusing an account the
 * policy wrongly marks, and the refusal at load of more than an hour for an account
 * without the mark: by `tvm policy check` and by a running tvm.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtemp, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Impersonated, OAuth2Client} from 'google-auth-library';
import {parsePolicy, PolicyError} from '../../src/policy/index.ts';
import {provisionForPolicy} from '../../src/local/provision.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  renderPolicy,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {tvm, userEnv} from '../cli/run-tvm.ts';

const DOMAIN = 'tvm-local.iam.gserviceaccount.com';
const WAREHOUSE = `warehouse@${DOMAIN}`;
const PRETENDER = `pretender@${DOMAIN}`;
const TWELVE_HOURS = 43_200;
const keys = {nightly: newKey()};
const handedOut: string[] = [];

const POLICY = `
version: 1
service_accounts:
  warehouse:
    email: ${WAREHOUSE}
    lifetime_extension: true
  pretender:
    email: ${PRETENDER}
    lifetime_extension: true # the policy says so; the organisation does not
clients:
  nightly:
    api_keys:
      - sha256: "{{KEY:nightly}}"
    allow:
      - service_account: warehouse
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 12h
      - service_account: pretender
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 12h
`;

/** The same policy without the mark on warehouse: more than an hour is refused at load. */
const UNMARKED = POLICY.replace(
  /(email: warehouse@\S+)\n {4}lifetime_extension: true/,
  '$1',
);

let s: Stack;

before(async () => {
  s = await startStack({policy: POLICY, keys, provision: false});
  // The organisation covers warehouse only: pretender exists without the extension.
  s.emulator.state.createServiceAccount({email: PRETENDER});
  provisionForPolicy(s.emulator.state, parsePolicy(renderPolicy(POLICY, keys)));
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

const asNightly = {authorization: basic('nightly', keys.nightly)};
const token = (form: Record<string, string>) =>
  postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', ...form},
    asNightly,
  );
const mints = () => s.emulator.stats.count('iam.generateAccessToken');

/** What Google's tokeninfo says of an access token. */
async function tokenInfo(accessToken: string) {
  const res = await fetch(
    `${s.emulator.url}/tokeninfo?access_token=${encodeURIComponent(accessToken)}`,
  );
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, string>;
}

void describe('12 hours for an account on the lifetime-extension list', () => {
  let twelve: string;

  void test('the token endpoint: lifetime=43200 is a token Google says lives 12 hours', async () => {
    const before = mints();
    const r = await token({
      audience: 'warehouse',
      lifetime: String(TWELVE_HOURS),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    twelve = r.body.access_token as string;
    handedOut.push(twelve);
    const expiresIn = r.body.expires_in as number;
    assert.ok(expiresIn > TWELVE_HOURS - 60 && expiresIn <= TWELVE_HOURS);
    const info = await tokenInfo(twelve);
    assert.equal(info.email, WAREHOUSE);
    assert.ok(Number(info.expires_in) > TWELVE_HOURS - 60);
    assert.ok(Number(info.expires_in) <= TWELVE_HOURS);
    assert.equal(mints(), before + 1);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.decision, 'allow');
    assert.equal(audit.lifetimeSeconds, TWELVE_HOURS);
    assert.equal(audit.serviceAccount, WAREHOUSE);
  });

  void test("Impersonated with lifetime 43200 on tvm's IAM route: the same 12-hour token, from the cache", async () => {
    const before = mints();
    const source = new OAuth2Client();
    source.setCredentials({
      access_token: keys.nightly,
      expiry_date: Date.now() + 3_600_000,
    });
    const client = new Impersonated({
      sourceClient: source,
      targetPrincipal: WAREHOUSE,
      targetScopes: ['https://www.googleapis.com/auth/cloud-platform'],
      lifetime: TWELVE_HOURS,
      delegates: [],
      endpoint: s.url,
    });
    const {token: t, res} = await client.getAccessToken();
    assert.equal(t, twelve);
    assert.equal(mints(), before);
    const expireTime = Date.parse(
      (res?.data as {expireTime: string}).expireTime,
    );
    assert.ok(expireTime - Date.now() > (TWELVE_HOURS - 60) * 1000);
  });

  void test('no lifetime asked: the grant max_lifetime of 12h is the default', async () => {
    const r = await token({audience: 'warehouse'});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.access_token, twelve);
  });

  void test('the cache never hands a 12-hour token to a caller that asked for one hour', async () => {
    const before = mints();
    const r = await token({audience: 'warehouse', lifetime: '3600'});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    handedOut.push(r.body.access_token as string);
    assert.notEqual(r.body.access_token, twelve);
    assert.ok((r.body.expires_in as number) <= 3600);
    assert.ok(
      Number((await tokenInfo(r.body.access_token as string)).expires_in) <=
        3600,
    );
    assert.equal(mints(), before + 1);
  });

  void test('one second over 12 hours: 400 invalid_request, no mint', async () => {
    const before = mints();
    const r = await token({
      audience: 'warehouse',
      lifetime: String(TWELVE_HOURS + 1),
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_request');
    assert.equal(
      r.body.error_description,
      'lifetime must be between 60 and 43200 seconds for this grant',
    );
    assert.equal(mints(), before);
  });

  void test('an account the policy marks but the organisation does not: Google refuses, 502, never a shorter token', async () => {
    const r = await token({
      audience: 'pretender',
      lifetime: String(TWELVE_HOURS),
    });
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'temporarily_unavailable');
    assert.equal(r.body.access_token, undefined);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.reason, 'ERR_UPSTREAM_REFUSED');
    assert.match(audit.detail as string, /INVALID_ARGUMENT/);
    // Within IAM's default hour the same account is fine.
    const ok = await token({audience: 'pretender', lifetime: '3600'});
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    handedOut.push(ok.body.access_token as string);
  });
});

void describe('more than an hour without lifetime_extension is refused at load', () => {
  const WANT =
    "clients.nightly.allow[0].max_lifetime: 43200s exceeds IAM's ceiling of 3600s for warehouse; set lifetime_extension: true on the service account if it is covered by constraints/iam.allowServiceAccountCredentialLifetimeExtension";

  void test('parsePolicy names the path and says what to do', () => {
    let caught: unknown;
    try {
      parsePolicy(renderPolicy(UNMARKED, keys));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof PolicyError);
    assert.deepEqual(
      caught.issues.map(i => `${i.path}: ${i.message}`),
      [WANT],
    );
  });

  void test('tvm policy check prints it and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvm-lifetime-'));
    const file = join(dir, 'policy.yaml');
    await writeFile(file, renderPolicy(UNMARKED, keys));
    const r = await tvm(await userEnv(), 'policy', 'check', file);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `${WANT}\ntvm: ${file} is not a valid policy (1 problem)\n`,
    );
  });

  void test('12h and a second is refused even with the mark', () => {
    let caught: unknown;
    try {
      parsePolicy(
        renderPolicy(
          POLICY.replace(/max_lifetime: 12h/, 'max_lifetime: 43201'),
          keys,
        ),
      );
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof PolicyError);
    assert.equal(
      caught.issues[0]!.path,
      'clients.nightly.allow[0].max_lifetime',
    );
    assert.match(caught.issues[0]!.message, /at most 12h \(43200s\)/);
  });

  void test('a running tvm given that policy serves nothing and says why in its log', async () => {
    const bad = await startStack({policy: UNMARKED, keys, provision: false});
    try {
      const health = await fetch(`${bad.url}/healthz`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), {
        status: 'unavailable',
        reason: 'the policy failed validation; see the logs',
      });
      const r = await postForm(
        `${bad.url}/token`,
        {
          grant_type: 'client_credentials',
          audience: 'warehouse',
          lifetime: '43200',
        },
        asNightly,
      );
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.equal(bad.emulator.stats.count('iam.generateAccessToken'), 0);
      const line = bad.logs.find(
        l => l.message === 'no valid policy; refusing all token requests',
      );
      assert.ok(line, 'the operator is told');
      assert.ok(
        String((line.policy as {error: string}).error).includes(WANT),
        JSON.stringify(line),
      );
    } finally {
      await bad.close();
    }
  });
});
