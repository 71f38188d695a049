/**
 * The kill switch (docs/incident.md): `disabled: true` on a client, an API key or a
 * service account, and the top-level `emergency_max_lifetime`, compile into a policy
 * where what is off is simply absent from what the request path sees.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parsePolicy} from '../../src/policy/index.ts';
import {PolicyError} from '../../src/errors.ts';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const KEY_C = 'c'.repeat(64);

const policy = (extra: {
  client?: string;
  key?: string;
  account?: string;
  top?: string;
}) => `
version: 1
${extra.top ?? ''}
service_accounts:
  reporting:
    email: reporting@p.iam.gserviceaccount.com
    ${extra.account ?? ''}
  etl:
    email: etl@p.iam.gserviceaccount.com
  legacy:
    email: legacy@p.iam.gserviceaccount.com
    mint: key
    key_secret: projects/p/secrets/legacy-key/versions/1
clients:
  app:
    ${extra.client ?? ''}
    api_keys:
      - sha256: "${KEY_A}"
        ${extra.key ?? ''}
      - sha256: "${KEY_B}"
    allow:
      - service_account: reporting
        scopes: [cloud-platform]
        max_lifetime: 30m
      - service_account: etl
        scopes: [cloud-platform]
      - service_account: legacy
        scopes: [cloud-platform]
  other:
    api_keys:
      - sha256: "${KEY_C}"
    allow:
      - service_account: reporting
        scopes: [cloud-platform]
`;

void test('nothing disabled: everything is there', () => {
  const p = parsePolicy(policy({}));
  assert.equal(p.clients.get('app')?.apiKeys.length, 2);
  assert.equal(p.clients.get('app')?.grants.length, 3);
  assert.ok(p.clientsByApiKey.has(KEY_A));
});

void test('a disabled client is gone, its keys with it', () => {
  const p = parsePolicy(policy({client: 'disabled: true'}));
  assert.equal(p.clients.has('app'), false);
  assert.equal(p.clientsByApiKey.has(KEY_A), false);
  assert.equal(p.clientsByApiKey.has(KEY_B), false);
  assert.ok(p.clients.has('other'), 'other clients stay');
});

void test('a disabled API key is refused; the client keeps its other keys', () => {
  const p = parsePolicy(policy({key: 'disabled: true'}));
  const app = p.clients.get('app')!;
  assert.deepEqual(
    app.apiKeys.map(k => k.sha256.toString('hex')),
    [KEY_B],
  );
  assert.equal(p.clientsByApiKey.has(KEY_A), false);
  assert.equal(p.clientsByApiKey.get(KEY_B), app);
});

void test('a disabled service account is granted to nobody', () => {
  const p = parsePolicy(policy({account: 'disabled: true'}));
  for (const c of p.clients.values()) {
    assert.ok(
      c.grants.every(g => g.serviceAccount.alias !== 'reporting'),
      c.id,
    );
  }
  assert.deepEqual(
    p.clients.get('app')!.grants.map(g => g.serviceAccount.alias),
    ['etl', 'legacy'],
  );
});

void test('emergency_max_lifetime cuts every grant; key-minted grants (always 1h) are dropped', () => {
  const p = parsePolicy(policy({top: 'emergency_max_lifetime: 10m'}));
  const app = p.clients.get('app')!;
  assert.deepEqual(
    app.grants.map(g => [g.serviceAccount.alias, g.maxLifetimeSeconds]),
    [
      ['reporting', 600],
      ['etl', 600],
    ],
  );
  const loose = parsePolicy(policy({top: 'emergency_max_lifetime: 1h'}));
  assert.deepEqual(
    loose.clients.get('app')!.grants.map(g => g.maxLifetimeSeconds),
    [1800, 3600, 3600],
    'a ceiling above a grant changes nothing',
  );
});

void test('the switches are checked like every other field', () => {
  assert.throws(
    () => parsePolicy(policy({client: 'disabled: yes please'})),
    PolicyError,
  );
  assert.throws(
    () => parsePolicy(policy({top: 'emergency_max_lifetime: 5s'})),
    PolicyError,
  );
});
