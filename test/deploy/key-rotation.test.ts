/**
 * The key rotation procedure of docs/deploy.md ("Rotate the key of a mint: key
 * account"), step by step against the local emulator, with a token request between
 * every step: no vend fails while two keys are live, after tvm re-reads the secret,
 * after the old secret version is disabled and after the old key is deleted. The last
 * step proves the check has teeth: the old key put back as the latest version fails.
 */
import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import type {ServiceAccountKeyFile} from '../../emulator/src/index.ts';
import {LOCAL_RUNTIME_ACCOUNT} from '../../src/local/provision.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  startStack,
  type Stack,
} from '../support/stack.ts';

const EMAIL = 'etl@tvm-local.iam.gserviceaccount.com';
const SECRET = 'projects/tvm-local/secrets/etl-key';
const POLICY = `version: 1
service_accounts:
  etl:
    email: ${EMAIL}
    mint: key
    key_secret: ${SECRET}/versions/latest
clients:
  c1:
    api_keys:
      - sha256: "{{KEY:c1}}"
    allow:
      - service_account: etl
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
`;

/** A clock the test moves; starts at the real time so library-made tokens agree. */
class TestClock {
  #t = Date.now();
  now() {
    return this.#t;
  }
  advance(seconds: number) {
    this.#t += seconds * 1000;
  }
}

const keys = {c1: newKey()};
const handedOut: string[] = [];
const clock = new TestClock();
let s: Stack;
/** The account's keys, as the test made them, and which of them are deleted. */
const made: ServiceAccountKeyFile[] = [];
const deleted = new Set<string>();

before(async () => {
  s = await startStack({policy: POLICY, keys, clock, provision: false});
  // As an account's owner sets it up: one key, stored as version 1 of its secret,
  // which only tvm's runtime account may read.
  const state = s.emulator.state;
  state.createServiceAccount({email: LOCAL_RUNTIME_ACCOUNT});
  state.setDefaultIdentity(LOCAL_RUNTIME_ACCOUNT);
  state.createServiceAccount({email: EMAIL});
  made.push(state.createKey(EMAIL));
  state.createSecret(SECRET);
  state.addSecretVersion(SECRET, JSON.stringify(made[0]));
  state.grantSecretAccessor(`serviceAccount:${LOCAL_RUNTIME_ACCOUNT}`, SECRET);
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** A token request that must mint (no cached token), and its status. */
async function vendFresh(): Promise<number> {
  s.service.tokenCache.clear();
  const r = await postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', audience: 'etl'},
    {authorization: basic('c1', keys.c1)},
  );
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r.status;
}

/** The account's keys that are not deleted. */
function keyIds(): string[] {
  return made.map(k => k.private_key_id).filter(id => !deleted.has(id));
}

void describe('rotating the key of a mint: key account', () => {
  void test('overlap, re-read, disable, delete: no failed vend', async () => {
    // Before: one key, in version 1 of the secret (as local mode provisions it).
    assert.equal(await vendFresh(), 200);
    const old = made[0]!;

    // 1. A second key for the account, stored as a new version: two keys live.
    const fresh = s.emulator.state.createKey(EMAIL);
    made.push(fresh);
    const v2 = s.emulator.state.addSecretVersion(
      SECRET,
      JSON.stringify(fresh, null, 2),
    );
    assert.equal(keyIds().length, 2);
    assert.equal(await vendFresh(), 200, 'tvm still holds the old key: fine');

    // 2. Wait out tvm's key re-read interval (5 minutes): the next mint reads
    //    versions/latest, the new key.
    clock.advance(301);
    assert.equal(await vendFresh(), 200);

    // 3. Disable the old version: nothing reads it any more.
    s.emulator.state.setSecretVersionState(`${SECRET}/versions/1`, 'DISABLED');
    clock.advance(301);
    assert.equal(await vendFresh(), 200);

    // 4. Delete the old key from the account: tokens signed with it stop working;
    //    tvm signs with the new one.
    s.emulator.state.deleteKey(EMAIL, old.private_key_id);
    deleted.add(old.private_key_id);
    assert.deepEqual(keyIds(), [fresh.private_key_id]);
    assert.equal(await vendFresh(), 200);
    assert.match(v2, /\/versions\/2$/);

    // The teeth: had the secret still held the deleted key, vends would fail.
    s.emulator.state.addSecretVersion(SECRET, JSON.stringify(old));
    clock.advance(301);
    assert.notEqual(await vendFresh(), 200);
  });
});
