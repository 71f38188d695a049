import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {MAX_POLICY_BYTES, parsePolicy} from '../../src/policy/index.ts';
import {
  HASH_A,
  HASH_B,
  basePolicy,
  expectPolicyError,
  issuePaths,
  toYaml,
} from './helpers.ts';

type Policy = ReturnType<typeof basePolicy>;
const NE = 'nightly-export';

/** A base policy changed by `edit`. */
function edited(edit: (p: Policy) => void): string {
  const p = basePolicy();
  edit(p);
  return toYaml(p);
}

function grant0(p: Policy): Record<string, unknown> {
  return p.clients[NE]!.allow[0]!;
}

void describe('parsePolicy refuses, naming the path of each problem', () => {
  const cases: Array<{
    name: string;
    input: string;
    want: string[];
    message?: RegExp;
  }> = [
    // top level
    {
      name: 'version other than 1',
      input: edited(p => (p.version = 2)),
      want: ['version'],
    },
    {
      name: 'version missing',
      input: edited(p => delete p.version),
      want: ['version'],
      message: /required/,
    },
    {
      name: 'unknown top-level key',
      input: edited(p => (p.clients_ = {})),
      want: ['clients_'],
      message: /unknown key/,
    },
    {
      name: 'service_accounts missing',
      input: edited(
        p => delete (p as Record<string, unknown>).service_accounts,
      ),
      want: ['service_accounts'],
      message: /required/,
    },
    {
      name: 'clients empty',
      input: edited(p => (p.clients = {})),
      want: ['clients'],
      message: /empty/,
    },
    {
      name: 'clients a list',
      input: edited(p => ((p as Record<string, unknown>).clients = [])),
      want: ['clients'],
      message: /mapping/,
    },
    {name: 'not a mapping at all', input: '- a\n- b\n', want: ['']},
    {name: 'empty document', input: '', want: ['']},
    // service accounts
    {
      name: 'alias with upper case',
      input: edited(
        p =>
          (p.service_accounts.Reporting = {
            email: 'x@p.iam.gserviceaccount.com',
          }),
      ),
      want: ['service_accounts.Reporting'],
    },
    {
      name: 'email not a service account',
      input: edited(
        p => (p.service_accounts.reporting!.email = 'alice@example.com'),
      ),
      want: ['service_accounts.reporting.email'],
    },
    {
      name: 'unknown mint method',
      input: edited(p => (p.service_accounts.reporting!.mint = 'magic')),
      want: ['service_accounts.reporting.mint'],
      message: /impersonate, key/,
    },
    {
      name: 'unknown key in a service account',
      input: edited(p => (p.service_accounts.reporting!.scopes = ['x'])),
      want: ['service_accounts.reporting.scopes'],
      message: /unknown key/,
    },
    {
      name: 'mint: key without key_secret',
      input: edited(p => delete p.service_accounts['legacy-etl']!.key_secret),
      want: ['service_accounts.legacy-etl.key_secret'],
      message: /required/,
    },
    {
      name: 'two key-minted accounts sharing one key secret',
      input: edited(
        p =>
          (p.service_accounts['etl-copy'] = {
            email: 'etl-copy@my-proj.iam.gserviceaccount.com',
            mint: 'key',
            key_secret: 'projects/my-proj/secrets/etl-sa-key/versions/3',
          }),
      ),
      want: ['service_accounts.etl-copy.key_secret'],
      message: /already the key of service_accounts\.legacy-etl/,
    },
    {
      name: 'key_secret on an impersonated account',
      input: edited(
        p =>
          (p.service_accounts.reporting!.key_secret =
            'projects/p/secrets/s/versions/1'),
      ),
      want: ['service_accounts.reporting.key_secret'],
    },
    {
      name: 'key_secret not a version name',
      input: edited(
        p =>
          (p.service_accounts['legacy-etl']!.key_secret =
            'projects/p/secrets/s'),
      ),
      want: ['service_accounts.legacy-etl.key_secret'],
    },
    {
      name: 'lifetime_extension on a key-minted account',
      input: edited(
        p => (p.service_accounts['legacy-etl']!.lifetime_extension = true),
      ),
      want: ['service_accounts.legacy-etl.lifetime_extension'],
    },
    {
      name: 'lifetime_extension not a boolean',
      input: edited(
        p => (p.service_accounts.reporting!.lifetime_extension = 'yes'),
      ),
      want: ['service_accounts.reporting.lifetime_extension'],
    },
    {
      name: 'same email under two aliases (case-insensitive)',
      input: edited(
        p =>
          (p.service_accounts.other = {
            email: 'REPORTING@my-proj.iam.gserviceaccount.com',
          }),
      ),
      want: ['service_accounts.other.email'],
      message: /service_accounts\.reporting/,
    },
    // clients
    {
      name: '__proto__ as a client id',
      input: `${toYaml(basePolicy())}`.replace(
        'clients:\n',
        `clients:\n  __proto__:\n    api_keys: [{sha256: "${HASH_B}"}]\n    allow: [{service_account: reporting, scopes: [cloud-platform]}]\n`,
      ),
      want: ['clients.__proto__'],
    },
    {
      name: 'client id with a space',
      input: edited(p => (p.clients['a b'] = p.clients[NE]!)),
      want: [
        'clients["a b"]',
        'clients.nightly-export.api_keys[0].sha256',
      ].slice(0, 1),
    },
    {
      name: 'unknown key in a client',
      input: edited(p => (p.clients[NE]!.secret = 'x')),
      want: ['clients.nightly-export.secret'],
      message: /unknown key/,
    },
    {
      name: 'client without credentials',
      input: edited(p => delete p.clients[NE]!.api_keys),
      want: ['clients.nightly-export'],
      message: /no credentials/,
    },
    {
      name: 'empty api_keys',
      input: edited(p => (p.clients[NE]!.api_keys = [])),
      want: ['clients.nightly-export.api_keys'],
    },
    {
      name: 'sha256 upper-case hex',
      input: edited(
        p => (p.clients[NE]!.api_keys = [{sha256: 'A'.repeat(64)}]),
      ),
      want: ['clients.nightly-export.api_keys[0].sha256'],
    },
    {
      name: 'sha256 too short',
      input: edited(p => (p.clients[NE]!.api_keys = [{sha256: 'abc'}])),
      want: ['clients.nightly-export.api_keys[0].sha256'],
    },
    {
      name: 'unknown key in an api key',
      input: edited(
        p => (p.clients[NE]!.api_keys = [{sha256: HASH_A, note: 'x'}]),
      ),
      want: ['clients.nightly-export.api_keys[0].note'],
    },
    {
      name: 'same key twice in a client',
      input: edited(
        p => (p.clients[NE]!.api_keys = [{sha256: HASH_A}, {sha256: HASH_A}]),
      ),
      want: ['clients.nightly-export.api_keys[1].sha256'],
      message: /api_keys\[0\]/,
    },
    {
      name: 'same key in two clients',
      input: edited(p => (p.clients.other = {...p.clients[NE]!})),
      want: ['clients.other.api_keys[0].sha256'],
      message: /clients\.nightly-export\.api_keys\[0\]\.sha256/,
    },
    {
      name: 'expires not a date',
      input: edited(
        p =>
          (p.clients[NE]!.api_keys = [{sha256: HASH_A, expires: '30/06/2027'}]),
      ),
      want: ['clients.nightly-export.api_keys[0].expires'],
    },
    {
      name: 'expires not a calendar date',
      input: edited(
        p =>
          (p.clients[NE]!.api_keys = [{sha256: HASH_A, expires: '2027-02-30'}]),
      ),
      want: ['clients.nightly-export.api_keys[0].expires'],
    },
    {
      name: 'expires timestamp without offset',
      input: edited(
        p =>
          (p.clients[NE]!.api_keys = [
            {sha256: HASH_A, expires: '2027-06-30T12:00:00'},
          ]),
      ),
      want: ['clients.nightly-export.api_keys[0].expires'],
    },
    {
      name: 'description too long',
      input: edited(p => (p.clients[NE]!.description = 'x'.repeat(1001))),
      want: ['clients.nightly-export.description'],
    },
    {
      name: 'empty source_ranges',
      input: edited(p => (p.clients[NE]!.source_ranges = [])),
      want: ['clients.nightly-export.source_ranges'],
      message: /omit/,
    },
    {
      name: 'source range not CIDR',
      input: edited(
        p => (p.clients[NE]!.source_ranges = ['10.0.0.0/8', 'example.com']),
      ),
      want: ['clients.nightly-export.source_ranges[1]'],
    },
    {
      name: 'source range with host bits',
      input: edited(p => (p.clients[NE]!.source_ranges = ['203.0.113.7/24'])),
      want: ['clients.nightly-export.source_ranges[0]'],
      message: /203\.0\.113\.0\/24/,
    },
    {
      name: 'source range without prefix length',
      input: edited(p => (p.clients[NE]!.source_ranges = ['203.0.113.7'])),
      want: ['clients.nightly-export.source_ranges[0]'],
      message: /\/32/,
    },
    {
      name: 'source range prefix too long',
      input: edited(p => (p.clients[NE]!.source_ranges = ['10.0.0.0/33'])),
      want: ['clients.nightly-export.source_ranges[0]'],
    },
    {
      name: 'source range not dotted quad',
      input: edited(p => (p.clients[NE]!.source_ranges = ['10.1/16'])),
      want: ['clients.nightly-export.source_ranges[0]'],
    },
    // allow
    {
      name: 'empty allow list',
      input: edited(p => (p.clients[NE]!.allow = [])),
      want: ['clients.nightly-export.allow'],
      message: /outage/,
    },
    {
      name: 'allow missing',
      input: edited(
        p => delete (p.clients[NE] as Record<string, unknown>).allow,
      ),
      want: ['clients.nightly-export.allow'],
      message: /required/,
    },
    {
      name: 'unknown service account alias',
      input: edited(p => (grant0(p).service_account = 'nope')),
      want: ['clients.nightly-export.allow[0].service_account'],
      message: /unknown service account/,
    },
    {
      name: 'same service account twice in one client',
      input: edited(p =>
        p.clients[NE]!.allow.push({
          service_account: 'reporting',
          scopes: ['cloud-platform'],
        }),
      ),
      want: ['clients.nightly-export.allow[1].service_account'],
      message: /allow\[0\]/,
    },
    {
      name: 'unknown key in a grant',
      input: edited(p => (grant0(p).lifetime = '1h')),
      want: ['clients.nightly-export.allow[0].lifetime'],
      message: /unknown key/,
    },
    {
      name: 'empty scopes',
      input: edited(p => (grant0(p).scopes = [])),
      want: ['clients.nightly-export.allow[0].scopes'],
    },
    {
      name: 'scope URL outside googleapis auth',
      input: edited(
        p =>
          (grant0(p).scopes = [
            'bigquery.readonly',
            'https://evil.example/auth/x',
          ]),
      ),
      want: ['clients.nightly-export.allow[0].scopes[1]'],
    },
    {
      name: 'scope with a space',
      input: edited(
        p => (grant0(p).scopes = ['bigquery.readonly cloud-platform']),
      ),
      want: ['clients.nightly-export.allow[0].scopes[0]'],
    },
    {
      name: 'scope http URL',
      input: edited(
        p => (grant0(p).scopes = ['http://www.googleapis.com/auth/bigquery']),
      ),
      want: ['clients.nightly-export.allow[0].scopes[0]'],
    },
    {
      name: 'duplicate scope after expansion',
      input: edited(
        p =>
          (grant0(p).scopes = [
            'bigquery.readonly',
            'https://www.googleapis.com/auth/bigquery.readonly',
          ]),
      ),
      want: ['clients.nightly-export.allow[0].scopes[1]'],
      message: /duplicate/,
    },
    {
      name: 'default scope not in scopes',
      input: edited(p => (grant0(p).default_scopes = ['cloud-platform'])),
      want: ['clients.nightly-export.allow[0].default_scopes[0]'],
      message: /not in scopes/,
    },
    {
      name: 'max_lifetime under 60s',
      input: edited(p => (grant0(p).max_lifetime = '30s')),
      want: ['clients.nightly-export.allow[0].max_lifetime'],
    },
    {
      name: 'max_lifetime over 12h',
      input: edited(p => (grant0(p).max_lifetime = '13h')),
      want: ['clients.nightly-export.allow[0].max_lifetime'],
      message: /12h/,
    },
    {
      name: 'max_lifetime not a duration',
      input: edited(p => (grant0(p).max_lifetime = '15 minutes')),
      want: ['clients.nightly-export.allow[0].max_lifetime'],
    },
    {
      name: 'max_lifetime fractional',
      input: edited(p => (grant0(p).max_lifetime = 90.5)),
      want: ['clients.nightly-export.allow[0].max_lifetime'],
    },
    {
      name: 'max_lifetime over the 1h IAM ceiling',
      input: edited(p => (grant0(p).max_lifetime = '2h')),
      want: ['clients.nightly-export.allow[0].max_lifetime'],
      message: /lifetime_extension/,
    },
    {
      name: 'key-minted grant under one hour',
      input: edited(p =>
        p.clients[NE]!.allow.push({
          service_account: 'legacy-etl',
          scopes: ['cloud-platform'],
          max_lifetime: '15m',
        }),
      ),
      want: ['clients.nightly-export.allow[1].max_lifetime'],
      message: /1h/,
    },
    {
      name: 'key-minted grant over one hour',
      input: edited(p =>
        p.clients[NE]!.allow.push({
          service_account: 'legacy-etl',
          scopes: ['cloud-platform'],
          max_lifetime: '2h',
        }),
      ),
      want: ['clients.nightly-export.allow[1].max_lifetime'],
    },
  ];
  for (const {name, input, want, message} of cases) {
    void test(name, () => {
      const e = expectPolicyError(input);
      assert.deepEqual(issuePaths(e), want);
      if (message) assert.match(e.issues[0]?.message ?? '', message);
    });
  }
});

void describe('parsePolicy reports all problems at once', () => {
  void test('schema and compile problems across the document', () => {
    const e = expectPolicyError(
      edited(p => {
        p.version = 3;
        p.service_accounts.reporting!.mint = 'nope';
        p.clients[NE]!.allow.push({service_account: 'ghost', scopes: ['x y']});
        p.clients.second = {
          api_keys: [{sha256: HASH_A}],
          allow: [
            {
              service_account: 'legacy-etl',
              scopes: ['cloud-platform'],
              max_lifetime: '5m',
            },
          ],
          extra: true,
        };
      }),
    );
    assert.deepEqual(issuePaths(e), [
      'version',
      'service_accounts.reporting.mint',
      'clients.nightly-export.allow[1].scopes[0]',
      'clients.second.extra',
    ]);
  });

  void test('compile problems in several clients', () => {
    const e = expectPolicyError(
      edited(p => {
        grant0(p).service_account = 'ghost';
        p.clients.second = {
          api_keys: [{sha256: HASH_A}],
          allow: [
            {
              service_account: 'legacy-etl',
              scopes: ['cloud-platform'],
              max_lifetime: '5m',
            },
          ],
        };
      }),
    );
    assert.deepEqual(issuePaths(e), [
      'clients.nightly-export.allow[0].service_account',
      'clients.second.api_keys[0].sha256',
      'clients.second.allow[0].max_lifetime',
    ]);
    assert.match(e.message, /clients\.second\.allow\[0\]\.max_lifetime: /);
  });
});

void describe('parsePolicy: YAML hazards', () => {
  const cases: Array<{name: string; input: string; want: RegExp}> = [
    {
      name: 'duplicate key',
      input: toYaml(basePolicy()) + 'version: 1\n',
      want: /unique/i,
    },
    {
      name: 'duplicate client id',
      input: toYaml(basePolicy()).replace(
        'clients:\n',
        'clients:\n  nightly-export: {}\n',
      ),
      want: /unique/i,
    },
    {
      // Different YAML values, one property name in the data: the second would
      // silently replace the first.
      name: 'keys 1 and "1"',
      input: toYaml(basePolicy()).replace(
        'clients:\n',
        'clients:\n  1: {}\n  "1": {}\n',
      ),
      want: /^YAML: Map keys must be unique at line \d+, column 3$/m,
    },
    {
      name: 'keys null and ""',
      input: 'version: 1\nservice_accounts: {null: {}, "": {}}\nclients: {}\n',
      want: /^YAML: Map keys must be unique at line 2, column 30$/m,
    },
    {
      name: 'a collection as a key',
      input: 'version: 1\n? [a, b]\n: x\n',
      want: /^YAML: a mapping key must be a plain value at line 2, column 3$/m,
    },
    {
      // yaml merges a tagged merge key whatever its merge option: `k` would be
      // written twice and one silently dropped.
      name: 'a tagged merge key',
      input: 'version: 1\nb: {!!merge <<: {k: 1, z: 9}, k: 2}\n',
      want: /^YAML: a mapping key must be a plain value at line 2, column 13$/m,
    },
    {
      name: 'a timestamp as a key',
      input: 'version: 1\nb: {!!timestamp 2001-01-01: x}\n',
      want: /^YAML: a mapping key must be a plain value at line 2, column 17$/m,
    },
    {
      name: 'an alias as a key',
      input: 'version: &v 1\n*v : x\n',
      want: /^YAML: a mapping key must be a plain value at line 2, column 1$/m,
    },
    {
      name: 'alias expansion bomb ("billion laughs")',
      input: [
        'a: &a [x, x, x, x, x, x, x, x, x, x]',
        'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
        'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
        'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
        'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
        'f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]',
        '',
      ].join('\n'),
      want: /alias/i,
    },
    {
      name: 'two documents',
      input: 'version: 1\n---\nversion: 1\n',
      want: /multiple documents/,
    },
    {name: 'syntax error', input: 'version: [1\n', want: /YAML/},
    {
      name: 'merge keys are not special',
      input: toYaml(basePolicy()).replace(
        'version: 1\n',
        'version: 1\n<<: {x: 1}\n',
      ),
      want: /unknown key/,
    },
    {
      name: 'larger than the size cap',
      input: toYaml(basePolicy()) + `# ${'x'.repeat(MAX_POLICY_BYTES)}\n`,
      want: /limit/,
    },
  ];
  for (const {name, input, want} of cases) {
    void test(name, () => {
      const e = expectPolicyError(input);
      assert.ok(e.issues.length >= 1);
      assert.match(e.issues.map(i => i.message).join('\n'), want);
    });
  }

  void test('a few anchors and aliases are fine', () => {
    const text = [
      'version: 1',
      'service_accounts:',
      '  reporting: {email: reporting@my-proj.iam.gserviceaccount.com}',
      'clients:',
      '  a:',
      `    api_keys: [{sha256: "${HASH_A}"}]`,
      '    allow: [{service_account: reporting, scopes: &s [bigquery.readonly]}]',
      '  b:',
      `    api_keys: [{sha256: "${HASH_B}"}]`,
      '    allow: [{service_account: reporting, scopes: *s}]',
      '',
    ].join('\n');
    const p = parsePolicy(text);
    assert.deepEqual(
      [...(p.clients.get('b')?.grants[0]?.scopes ?? [])],
      ['https://www.googleapis.com/auth/bigquery.readonly'],
    );
  });
});
