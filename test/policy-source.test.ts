/**
 * The policy source loads what a policy's requests will need with the policy: the
 * Secret Manager client library when an account mints with a key or a user's
 * credential (both live in Secret Manager), never when none does.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {systemClock} from '../src/clock.ts';
import type {SecretReader} from '../src/google/secret-manager.ts';
import {createLogger} from '../src/log.ts';
import {
  createPolicySource,
  readsSecretManager,
  type PolicySource,
} from '../src/policy-source.ts';
import {parsePolicy, policyDigest} from '../src/policy/index.ts';
import type {CompiledPolicy} from '../src/policy/types.ts';
import {basePolicy, toYaml} from './policy/helpers.ts';

/** The base policy without its key-minted account: impersonation only. */
function impersonateOnly(): string {
  const p = basePolicy();
  delete p.service_accounts['legacy-etl'];
  return toYaml(p);
}

/** The base policy: `legacy-etl` mints with a key in Secret Manager. */
const withKey = () => toYaml(basePolicy());

/** The base policy without the key, and a user whose credential is in Secret Manager. */
function withUser(): string {
  const p = basePolicy();
  delete p.service_accounts['legacy-etl'];
  p.service_accounts.alice = {
    mint: 'user',
    email: 'alice@example.com',
    credential_secret: 'projects/my-proj/secrets/alice/versions/1',
    consented_scopes: ['cloud-platform'],
  };
  return toYaml(p);
}

/** A reader that counts the times it was asked to prepare; it never reads. */
function countingReader(prepare: () => Promise<void> = async () => {}) {
  const calls = {prepare: 0, access: 0};
  const reader: SecretReader = {
    access() {
      calls.access++;
      return Promise.reject(new Error('no read expected'));
    },
    prepare() {
      calls.prepare++;
      return prepare();
    },
    close: async () => undefined,
  };
  return {reader, calls};
}

function fileSource(
  text: string,
  reader: SecretReader,
  parse: (text: string, source?: string) => CompiledPolicy = parsePolicy,
): {policies: PolicySource; path: string; lines: string[]} {
  const path = join(
    mkdtempSync(join(tmpdir(), 'tvm-policy-source-')),
    'p.yaml',
  );
  writeFileSync(path, text);
  const lines: string[] = [];
  const policies = createPolicySource({
    source: {kind: 'file', path},
    parse,
    secrets: () => reader,
    clock: systemClock,
    logger: createLogger('info', {write: (l: string) => void lines.push(l)}),
    refreshSeconds: 0,
  });
  return {policies, path, lines};
}

void describe('readsSecretManager', () => {
  void test('impersonation only: no', () => {
    assert.equal(readsSecretManager(parsePolicy(impersonateOnly())), false);
  });
  void test('an account minted with a key: yes', () => {
    assert.equal(readsSecretManager(parsePolicy(withKey())), true);
  });
  void test("a user's credential: yes", () => {
    assert.equal(readsSecretManager(parsePolicy(withUser())), true);
  });
});

void describe('the Secret Manager client library is loaded with the policy', () => {
  void test('a policy with a key: prepared once, before the policy is ready, and nothing read', async () => {
    const {reader, calls} = countingReader();
    const {policies} = fileSource(withKey(), reader);
    await policies.ready();
    assert.equal(policies.status().ok, true);
    assert.equal(calls.prepare, 1);
    assert.equal(calls.access, 0);
    // The same policy read again: nothing new to prepare.
    await policies.refresh();
    assert.equal(calls.prepare, 1);
    policies.close();
  });

  void test("a policy with a user's credential: prepared", async () => {
    const {reader, calls} = countingReader();
    const {policies} = fileSource(withUser(), reader);
    await policies.ready();
    assert.equal(policies.status().ok, true);
    assert.equal(calls.prepare, 1);
    policies.close();
  });

  void test('impersonation only: not prepared; a new policy with a key: prepared then', async () => {
    const {reader, calls} = countingReader();
    const {policies, path} = fileSource(impersonateOnly(), reader);
    await policies.ready();
    assert.equal(policies.status().ok, true);
    assert.equal(calls.prepare, 0);
    writeFileSync(path, withKey());
    await policies.refresh();
    assert.equal(policies.current()?.serviceAccounts.has('legacy-etl'), true);
    assert.equal(calls.prepare, 1);
    policies.close();
  });

  void test('a library that fails to load leaves the policy in force, and nothing logged', async () => {
    const {reader, calls} = countingReader(() =>
      Promise.reject(new Error('cannot load')),
    );
    const {policies, lines} = fileSource(withKey(), reader);
    await policies.ready();
    await new Promise(r => setImmediate(r));
    assert.equal(calls.prepare, 1);
    assert.deepEqual(policies.status(), {
      ok: true,
      reason: undefined,
      digest: policies.current()!.digest,
      stale: false,
    });
    assert.deepEqual(
      lines.map(l => (JSON.parse(l) as {message: string}).message),
      ['policy loaded'],
    );
    policies.close();
  });
});

void describe('a policy read again', () => {
  void test('unchanged: not parsed again; changed: parsed, and in force', async () => {
    const parsed: string[] = [];
    const {reader} = countingReader();
    const {policies, path, lines} = fileSource(
      impersonateOnly(),
      reader,
      (text, source) => {
        parsed.push(text);
        return parsePolicy(text, source);
      },
    );
    await policies.ready();
    const first = policies.current()!;
    assert.equal(first.digest, policyDigest(impersonateOnly()));
    await policies.refresh();
    await policies.refresh();
    assert.equal(parsed.length, 1);
    assert.equal(policies.current(), first, 'the same compiled policy stays');

    writeFileSync(path, withKey());
    await policies.refresh();
    assert.equal(parsed.length, 2);
    assert.equal(policies.current()!.digest, policyDigest(withKey()));
    assert.equal(policies.current()!.serviceAccounts.has('legacy-etl'), true);
    assert.deepEqual(
      lines.map(l => (JSON.parse(l) as {message: string}).message),
      ['policy loaded', 'policy loaded'],
    );
    policies.close();
  });

  void test('a refused text, then the text in force again: no longer stale, not parsed', async () => {
    const parsed: string[] = [];
    const {reader} = countingReader();
    const {policies, path} = fileSource(impersonateOnly(), reader, text => {
      parsed.push(text);
      return parsePolicy(text);
    });
    await policies.ready();
    writeFileSync(path, 'version: 1\nclients: [');
    await policies.refresh();
    assert.equal(policies.status().stale, true);
    assert.equal(parsed.length, 2);

    writeFileSync(path, impersonateOnly());
    await policies.refresh();
    assert.deepEqual(policies.status(), {
      ok: true,
      reason: undefined,
      digest: policyDigest(impersonateOnly()),
      stale: false,
    });
    assert.equal(parsed.length, 2);
    policies.close();
  });
});
