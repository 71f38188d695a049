import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {
  DEFAULT_MAX_LIFETIME_SECONDS,
  parsePolicy,
  type CompiledPolicy,
} from '../../src/policy/index.ts';
import {HASH_A, HASH_B, basePolicy, toYaml} from './helpers.ts';

const AUTH = 'https://www.googleapis.com/auth/';

void describe('parsePolicy: valid policies compile to the expected values', () => {
  const cases: Array<{
    name: string;
    input: () => string;
    want: (p: CompiledPolicy) => void;
  }> = [
    {
      name: 'minimal policy: defaults filled in',
      input: () => toYaml(basePolicy()),
      want: p => {
        assert.equal(p.version, 1);
        const sa = p.serviceAccounts.get('reporting');
        assert.deepEqual(
          {...sa},
          {
            alias: 'reporting',
            email: 'reporting@my-proj.iam.gserviceaccount.com',
            mint: 'impersonate',
            keySecret: undefined,
            lifetimeExtension: false,
            iamMaxLifetimeSeconds: 3600,
          },
        );
        const client = p.clients.get('nightly-export');
        assert.ok(client);
        assert.equal(client.id, 'nightly-export');
        assert.equal(client.description, undefined);
        assert.deepEqual(client.sourceRanges, []);
        assert.equal(client.apiKeys.length, 1);
        assert.deepEqual(client.apiKeys[0]?.sha256, Buffer.from(HASH_A, 'hex'));
        assert.equal(client.apiKeys[0]?.expiresAt, undefined);
        const grant = client.grants[0];
        assert.ok(grant);
        assert.equal(
          grant.serviceAccount,
          sa,
          'grant shares the compiled account',
        );
        assert.deepEqual([...grant.scopes], [`${AUTH}bigquery.readonly`]);
        assert.equal(grant.defaultScopes, undefined);
        assert.equal(grant.maxLifetimeSeconds, 900);
      },
    },
    {
      name: 'key-minted account: key secret, 1h ceiling, lifetime defaults to 1h',
      input: () => {
        const p = basePolicy();
        p.clients['nightly-export']!.allow.push({
          service_account: 'legacy-etl',
          scopes: ['cloud-platform'],
        });
        return toYaml(p);
      },
      want: p => {
        const sa = p.serviceAccounts.get('legacy-etl');
        assert.equal(sa?.mint, 'key');
        assert.equal(
          sa?.keySecret,
          'projects/my-proj/secrets/etl-sa-key/versions/latest',
        );
        assert.equal(sa?.iamMaxLifetimeSeconds, 3600);
        const g = p.clients.get('nightly-export')?.grants[1];
        assert.equal(g?.maxLifetimeSeconds, DEFAULT_MAX_LIFETIME_SECONDS);
        assert.equal(g?.maxLifetimeSeconds, 3600);
      },
    },
    {
      name: 'lifetime extension raises the ceiling to 12h',
      input: () => {
        const p = basePolicy();
        p.service_accounts.reporting!.lifetime_extension = true;
        p.clients['nightly-export']!.allow[0]!.max_lifetime = '12h';
        return toYaml(p);
      },
      want: p => {
        const sa = p.serviceAccounts.get('reporting');
        assert.equal(sa?.lifetimeExtension, true);
        assert.equal(sa?.iamMaxLifetimeSeconds, 43200);
        assert.equal(
          p.clients.get('nightly-export')?.grants[0]?.maxLifetimeSeconds,
          43200,
        );
      },
    },
    {
      name: 'email lower-cased and indexed by email',
      input: () => {
        const p = basePolicy();
        p.service_accounts.reporting!.email =
          'Reporting@My-Proj.IAM.gserviceaccount.com';
        return toYaml(p);
      },
      want: p => {
        const sa = p.serviceAccounts.get('reporting');
        assert.equal(sa?.email, 'reporting@my-proj.iam.gserviceaccount.com');
        assert.equal(
          p.serviceAccountsByEmail.get(
            'reporting@my-proj.iam.gserviceaccount.com',
          ),
          sa,
        );
        assert.equal(p.serviceAccountsByEmail.size, 2);
      },
    },
    {
      name: 'scopes expanded, default scopes sorted full URLs',
      input: () => {
        const p = basePolicy();
        p.clients['nightly-export']!.allow[0] = {
          service_account: 'reporting',
          scopes: [
            'devstorage.read_only',
            `${AUTH}bigquery.readonly`,
            'cloud-platform.read-only',
          ],
          default_scopes: [`${AUTH}devstorage.read_only`, 'bigquery.readonly'],
        };
        return toYaml(p);
      },
      want: p => {
        const g = p.clients.get('nightly-export')?.grants[0];
        assert.deepEqual(
          [...(g?.scopes ?? [])],
          [
            `${AUTH}devstorage.read_only`,
            `${AUTH}bigquery.readonly`,
            `${AUTH}cloud-platform.read-only`,
          ],
        );
        assert.deepEqual(g?.defaultScopes, [
          `${AUTH}bigquery.readonly`,
          `${AUTH}devstorage.read_only`,
        ]);
      },
    },
    {
      name: 'api keys with expiry: a date means 00:00 UTC that day',
      input: () => {
        const p = basePolicy();
        p.clients['nightly-export']!.api_keys = [
          {sha256: HASH_A, expires: '2027-06-30'},
          {sha256: HASH_B, expires: '2027-06-30T12:00:00+02:00'},
        ];
        return toYaml(p);
      },
      want: p => {
        const keys = p.clients.get('nightly-export')?.apiKeys;
        assert.equal(keys?.[0]?.expiresAt, Date.parse('2027-06-30T00:00:00Z'));
        assert.equal(keys?.[1]?.expiresAt, Date.parse('2027-06-30T10:00:00Z'));
      },
    },
    {
      name: 'unquoted YAML date for expires',
      input: () =>
        toYaml(basePolicy()).replace(
          `- sha256: ${HASH_A}`,
          `- sha256: ${HASH_A}\n        expires: 2027-06-30`,
        ),
      want: p => {
        assert.equal(
          p.clients.get('nightly-export')?.apiKeys[0]?.expiresAt,
          Date.UTC(2027, 5, 30),
        );
      },
    },
    {
      name: 'source ranges compiled',
      input: () => {
        const p = basePolicy();
        p.clients['nightly-export']!.source_ranges = [
          '203.0.113.0/24',
          '2001:DB8::/32',
        ];
        return toYaml(p);
      },
      want: p => {
        const ranges = p.clients.get('nightly-export')?.sourceRanges ?? [];
        assert.deepEqual(
          ranges.map(r => r.cidr),
          ['203.0.113.0/24', '2001:db8::/32'],
        );
        assert.equal(ranges[0]?.contains('203.0.113.9'), true);
      },
    },
    {
      name: 'max_lifetime as integer seconds',
      input: () => {
        const p = basePolicy();
        p.clients['nightly-export']!.allow[0]!.max_lifetime = 600;
        return toYaml(p);
      },
      want: p => {
        assert.equal(
          p.clients.get('nightly-export')?.grants[0]?.maxLifetimeSeconds,
          600,
        );
      },
    },
    {
      name: 'client ids that are Object.prototype names are ordinary ids',
      input: () => {
        const p = basePolicy();
        const c = p.clients['nightly-export']!;
        p.clients = {
          constructor: c,
          hasOwnProperty: {...c, api_keys: [{sha256: HASH_B}]},
        };
        return toYaml(p);
      },
      want: p => {
        assert.deepEqual(
          [...p.clients.keys()],
          ['constructor', 'hasOwnProperty'],
        );
        assert.equal(p.clients.get('constructor')?.id, 'constructor');
        assert.equal(p.clients.get('toString'), undefined);
        assert.equal(p.clients.get('__proto__'), undefined);
      },
    },
  ];
  for (const {name, input, want} of cases) {
    void test(name, () => want(parsePolicy(input())));
  }
});

void describe('parsePolicy: the compiled policy', () => {
  void test('digest is the SHA-256 hex of the source text', () => {
    const text = toYaml(basePolicy());
    const p = parsePolicy(text);
    assert.equal(p.digest, createHash('sha256').update(text).digest('hex'));
  });

  void test('is frozen all the way down', () => {
    const p = parsePolicy(toYaml(basePolicy()));
    const client = p.clients.get('nightly-export');
    const grant = client?.grants[0];
    for (const v of [
      p,
      client,
      client?.apiKeys,
      client?.apiKeys[0],
      client?.grants,
      grant,
      grant?.serviceAccount,
      client?.sourceRanges,
    ]) {
      assert.ok(Object.isFrozen(v));
    }
    const maps = p.clients as unknown as Map<string, unknown>;
    assert.equal(typeof maps.set, 'undefined', 'no set() even through a cast');
    const scopes = grant?.scopes as unknown as Set<string>;
    assert.equal(
      typeof scopes.add,
      'undefined',
      'no add() even through a cast',
    );
    assert.throws(() => {
      (p as {digest: string}).digest = 'x';
    }, TypeError);
  });

  void test('the demo policy of local mode compiles', () => {
    const text = readFileSync(
      new URL('../../policy/demo.yaml', import.meta.url),
      'utf8',
    );
    const p = parsePolicy(text, 'policy/demo.yaml');
    assert.deepEqual(
      [...p.serviceAccounts.keys()],
      ['reporting', 'legacy-etl'],
    );
    assert.equal(
      p.serviceAccounts.get('reporting')?.email,
      'reporting@tvm-local.iam.gserviceaccount.com',
    );
    assert.equal(
      p.serviceAccounts.get('legacy-etl')?.keySecret,
      'projects/tvm-local/secrets/etl-sa-key/versions/latest',
    );
    const demo = p.clients.get('demo');
    assert.deepEqual(demo?.apiKeys[0]?.sha256, Buffer.alloc(32));
    assert.equal(demo?.grants[0]?.maxLifetimeSeconds, 900);
    assert.deepEqual(
      [...(demo?.grants[0]?.scopes ?? [])],
      [`${AUTH}bigquery.readonly`, `${AUTH}devstorage.read_only`],
    );
    assert.equal(demo?.grants[1]?.maxLifetimeSeconds, 3600);
    assert.match(text, /^ {6}- sha256: "0{64}" {2}# replaced by npm start$/m);
  });
});
