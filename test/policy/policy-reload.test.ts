/**
 * The policy in force: loaded from a file or a Secret Manager version, re-read, a bad
 * update refused while the last good policy stays, no good policy at all → 503 and a
 * /healthz that says why.
 */
import {after, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {writeFileSync} from 'node:fs';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  renderPolicy,
  startStack,
} from '../support/stack.ts';
import {LOCAL_RUNTIME_ACCOUNT} from '../../src/local/provision.ts';

const policyFor = (keyName: string) => `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  c1:
    api_keys:
      - sha256: "{{KEY:${keyName}}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;
const BAD =
  'version: 1\nservice_accounts: {}\nclients:\n  c1:\n    allow: []\n    surprise: true\n';
const keys = {old: newKey(), new: newKey()};
const FORM = {
  grant_type: 'client_credentials',
  audience: 'reporting',
  scope: 'bigquery.readonly',
};
const handedOut: string[] = [];

async function vend(url: string, key: string) {
  const r = await postForm(`${url}/token`, FORM, {
    authorization: basic('c1', key),
  });
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r;
}
const health = async (url: string) => {
  const r = await fetch(`${url}/healthz`);
  return {status: r.status, body: (await r.json()) as Record<string, string>};
};

after(() => assertNoSecretsLogged([...Object.values(keys), ...handedOut]));

void describe('policy from a file', () => {
  void test('good, then bad (refused, last good stays), then good again', async () => {
    const s = await startStack({policy: policyFor('old'), keys});
    try {
      assert.equal((await vend(s.url, keys.old)).status, 200);

      writeFileSync(s.policyPath, BAD);
      await s.service.policies.refresh();
      assert.equal(s.service.policies.status().stale, true);
      assert.equal((await health(s.url)).status, 200);
      assert.equal((await vend(s.url, keys.old)).status, 200);
      const refused = s.logs.find(
        l =>
          l.message ===
          'policy update refused; the last good policy stays in force',
      );
      assert.ok(refused, 'the refusal is logged');
      assert.match(JSON.stringify(refused), /clients\.c1/);

      writeFileSync(s.policyPath, renderPolicy(policyFor('new'), keys));
      await s.service.policies.refresh();
      assert.equal(s.service.policies.status().stale, false);
      assert.equal((await vend(s.url, keys.old)).status, 401);
      assert.equal((await vend(s.url, keys.new)).status, 200);
    } finally {
      await s.close();
    }
  });

  void test('no valid policy: 503 on /token, /healthz says why; fixed: serving', async () => {
    const s = await startStack({policy: BAD, keys, provision: false});
    try {
      const h = await health(s.url);
      assert.equal(h.status, 503);
      assert.deepEqual(h.body, {
        status: 'unavailable',
        reason: 'the policy failed validation; see the logs',
      });
      const r = await vend(s.url, keys.old);
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);

      writeFileSync(s.policyPath, renderPolicy(policyFor('old'), keys));
      await s.service.policies.refresh();
      assert.equal((await health(s.url)).status, 200);
    } finally {
      await s.close();
    }
  });

  void test('TVM_POLICY unset: 503 and /healthz names the variable', async () => {
    const s = await startStack({
      policy: policyFor('old'),
      keys,
      env: {TVM_POLICY: ''},
    });
    try {
      const h = await health(s.url);
      assert.equal(h.status, 503);
      assert.equal(h.body.reason, 'TVM_POLICY is not set');
    } finally {
      await s.close();
    }
  });
});

void describe('policy from Secret Manager', () => {
  void test('read through the API; a new version takes effect; a bad one is refused', async () => {
    const secret = 'projects/tvm-local/secrets/tvm-policy';
    const s = await startStack({
      policy: policyFor('old'),
      keys,
      env: {TVM_POLICY: `${secret}/versions/latest`},
    });
    try {
      // Not there yet: fail closed.
      assert.equal((await health(s.url)).status, 503);
      s.emulator.state.createSecret(secret);
      s.emulator.state.addSecretVersion(
        secret,
        renderPolicy(policyFor('old'), keys),
      );
      await s.service.policies.refresh();
      assert.equal(
        (await health(s.url)).status,
        503,
        'the runtime account cannot read it yet',
      );
      s.emulator.state.grantSecretAccessor(
        `serviceAccount:${LOCAL_RUNTIME_ACCOUNT}`,
        secret,
      );
      await s.service.policies.refresh();
      assert.equal((await health(s.url)).status, 200);
      assert.equal((await vend(s.url, keys.old)).status, 200);

      s.emulator.state.addSecretVersion(secret, BAD);
      await s.service.policies.refresh();
      assert.equal((await vend(s.url, keys.old)).status, 200);

      s.emulator.state.addSecretVersion(
        secret,
        renderPolicy(policyFor('new'), keys),
      );
      await s.service.policies.refresh();
      assert.equal((await vend(s.url, keys.new)).status, 200);
      assert.equal((await vend(s.url, keys.old)).status, 401);
    } finally {
      await s.close();
    }
  });
});
