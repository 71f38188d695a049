/**
 * Local mode provisions whatever a policy names, so that any policy can be tried:
 * key secrets named by version number included; an alias is refused with a reason.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startEmulator} from '../../emulator/src/index.ts';
import {provisionForPolicy} from '../../src/local/provision.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  startStack,
} from '../support/stack.ts';

const policy = (version: string) => `
version: 1
service_accounts:
  warehouse:
    email: warehouse@other-proj.iam.gserviceaccount.com
    mint: key
    key_secret: projects/other-proj/secrets/warehouse-key/versions/${version}
clients:
  c1:
    api_keys:
      - sha256: "{{KEY:c1}}"
    allow:
      - service_account: warehouse
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
`;

void test('a key secret named by version number: that version exists and holds the key', async () => {
  const keys = {c1: newKey()};
  const s = await startStack({policy: policy('3'), keys});
  try {
    const r = await postForm(
      `${s.url}/token`,
      {grant_type: 'client_credentials', audience: 'warehouse'},
      {
        authorization: basic('c1', keys.c1),
      },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertNoSecretsLogged([keys.c1, r.body.access_token as string]);
  } finally {
    await s.close();
  }
});

void test('a version alias cannot be provisioned: refused with the reason', async () => {
  const emulator = await startEmulator();
  try {
    const text = policy('prod').replace('"{{KEY:c1}}"', `"${'0'.repeat(64)}"`);
    assert.throws(
      () => provisionForPolicy(emulator.state, parsePolicy(text)),
      /cannot provision projects\/other-proj\/secrets\/warehouse-key\/versions\/prod: name a version number or latest/,
    );
  } finally {
    await emulator.close();
  }
});
