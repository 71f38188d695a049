/**
 * The policy's narrowing fields: a grant's `delegation` (subjects, scopes) and
 * `access_boundary` (mode, rules), refused at load with the path of every problem;
 * the subject patterns, the CEL check and the narrowing rule as tables.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {parsePolicy} from '../../src/policy/index.ts';
import {celProblem} from '../../src/policy/cel.ts';
import {
  compileSubject,
  matchSubject,
  parseSubject,
  type SubjectMatcher,
} from '../../src/policy/subject.ts';
import {
  compileBoundary,
  parseRequestedBoundary,
  widening,
  type BoundaryRule,
} from '../../src/policy/access-boundary.ts';
import {basePolicy, expectPolicyError, toYaml} from './helpers.ts';

type Policy = ReturnType<typeof basePolicy>;
const NE = 'nightly-export';
const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-a';
const VIEWER = 'inRole:roles/storage.objectViewer';

function withGrant(
  extra: Record<string, unknown>,
  edit?: (p: Policy) => void,
): string {
  const p = basePolicy();
  Object.assign(p.clients[NE]!.allow[0]!, {max_lifetime: '1h', ...extra});
  edit?.(p);
  return toYaml(p);
}

const delegation = (over: Record<string, unknown> = {}) => ({
  delegation: {
    subjects: ['alice@corp.example', '*@ops.example'],
    scopes: ['gmail.readonly'],
    ...over,
  },
});
const boundary = (
  over: Record<string, unknown> = {},
  rule: Record<string, unknown> = {},
) => ({
  access_boundary: {
    mode: 'force',
    rules: [{resource: BUCKET, permissions: [VIEWER], ...rule}],
    ...over,
  },
});

const G = `clients.${NE}.allow[0]`;

void describe('policy: delegation and access_boundary are checked at load', () => {
  const cases: Array<{
    name: string;
    input: string;
    want: Array<[string, RegExp]>;
  }> = [
    {
      name: 'a * glued to a local part, a wildcard domain, a bare *',
      input: withGrant(
        delegation({subjects: ['a*@corp.example', '*@*.corp.example', '*']}),
      ),
      want: [
        [
          `${G}.delegation.subjects[0]`,
          /a \* must be the whole local part of the address/,
        ],
        [`${G}.delegation.subjects[1]`, /a \* must be the whole local part/],
        [`${G}.delegation.subjects[2]`, /a \* must be the whole local part/],
      ],
    },
    {
      name: 'a subject that is no address',
      input: withGrant(delegation({subjects: ['alice']})),
      want: [
        [
          `${G}.delegation.subjects[0]`,
          /"alice" is not a user's email address/,
        ],
      ],
    },
    {
      name: 'duplicate subjects, and an address a domain entry covers',
      input: withGrant(
        delegation({
          subjects: [
            '*@ops.example',
            'Alice@corp.example',
            'alice@corp.example',
            'bob@ops.example',
          ],
        }),
      ),
      want: [
        [
          `${G}.delegation.subjects[2]`,
          /^duplicate of \[1\] \(alice@corp\.example\)$/,
        ],
        [
          `${G}.delegation.subjects[3]`,
          /^already covered by \[0\] \(\*@ops\.example\)$/,
        ],
      ],
    },
    {
      name: 'no subjects, a bad scope, a duplicate scope',
      input: withGrant(
        delegation({
          subjects: [],
          scopes: [
            'gmail.readonly',
            'no spaces',
            'https://www.googleapis.com/auth/gmail.readonly',
          ],
        }),
      ),
      want: [
        [`${G}.delegation.subjects`, /must not be empty/],
        [`${G}.delegation.scopes[1]`, /is not a scope/],
      ],
    },
    {
      name: 'a duplicate delegation scope',
      input: withGrant(
        delegation({
          scopes: [
            'gmail.readonly',
            'https://www.googleapis.com/auth/gmail.readonly',
          ],
        }),
      ),
      want: [[`${G}.delegation.scopes[1]`, /^duplicate of \[0\]/]],
    },
    {
      name: 'delegation on a grant shorter than an hour',
      input: withGrant({...delegation(), max_lifetime: '15m'}),
      want: [
        [
          `${G}.delegation`,
          /^delegated tokens always live 1h \(Google's JWT-bearer grant\), so the grant's max_lifetime must be at least 1h \(got 900s\)$/,
        ],
      ],
    },
    {
      name: 'an unknown key in delegation',
      input: withGrant(delegation({subject: ['x@y.example']})),
      want: [[`${G}.delegation.subject`, /unknown key/]],
    },
    {
      name: 'a boundary without mode, or with another',
      input: withGrant(boundary({mode: 'maybe'})),
      want: [[`${G}.access_boundary.mode`, /must be one of: force, allow/]],
    },
    {
      name: 'no rules, or eleven',
      input: withGrant(
        boundary({
          rules: Array.from({length: 11}, () => ({
            resource: BUCKET,
            permissions: [VIEWER],
          })),
        }),
      ),
      want: [[`${G}.access_boundary.rules`, /must have at most 10 entries/]],
    },
    {
      name: 'a resource, a permission and a condition Google would refuse',
      input: withGrant(
        boundary(
          {},
          {
            resource: 'partner-a',
            permissions: [VIEWER, 'storage.objects.get'],
            condition: {expression: "resource.name.startsWith('x'", title: 't'},
          },
        ),
      ),
      want: [
        [
          `${G}.access_boundary.rules[0].resource`,
          /must be the full resource name of a Cloud Storage bucket, \/\/storage\.googleapis\.com/,
        ],
        [
          `${G}.access_boundary.rules[0].permissions[1]`,
          /must be an IAM role as inRole:roles\/ROLE/,
        ],
        [
          `${G}.access_boundary.rules[0].condition.expression`,
          /is not a valid CEL expression: it leaves a bracket open/,
        ],
      ],
    },
    {
      name: 'an unknown key in a rule, a condition without expression',
      input: withGrant(
        boundary({}, {roles: [VIEWER], condition: {title: 'x'}}),
      ),
      want: [
        [`${G}.access_boundary.rules[0].roles`, /unknown key/],
        [`${G}.access_boundary.rules[0].condition.expression`, /required/],
      ],
    },
  ];
  for (const c of cases) {
    void test(`refuses ${c.name}`, () => {
      const e = expectPolicyError(c.input);
      for (const [path, message] of c.want) {
        const hit = e.issues.find(
          i => i.path === path && message.test(i.message),
        );
        assert.ok(
          hit,
          `no issue ${path}: ${message} in ${JSON.stringify(e.issues)}`,
        );
      }
    });
  }

  void test('a valid grant compiles: subjects, scopes, a normalised boundary', () => {
    const p = parsePolicy(
      withGrant({
        ...delegation(),
        access_boundary: {
          mode: 'allow',
          rules: [
            {
              resource: BUCKET,
              permissions: ['inRole:roles/storage.objectAdmin', VIEWER, VIEWER],
            },
            {
              resource: '//storage.googleapis.com/projects/_/buckets/a-first',
              permissions: [VIEWER],
              condition: {
                expression: "resource.name.endsWith('.csv')",
                title: 'csv',
              },
            },
          ],
        },
      }),
    );
    const g = p.clients.get(NE)!.grants[0]!;
    assert.deepEqual(
      g.delegation!.subjects.map(m => m.source),
      ['alice@corp.example', '*@ops.example'],
    );
    assert.deepEqual(
      [...g.delegation!.scopes],
      ['https://www.googleapis.com/auth/gmail.readonly'],
    );
    assert.equal(g.accessBoundary!.mode, 'allow');
    assert.deepEqual(JSON.parse(g.accessBoundary!.boundary.json), {
      accessBoundary: {
        accessBoundaryRules: [
          {
            availableResource:
              '//storage.googleapis.com/projects/_/buckets/a-first',
            availablePermissions: [VIEWER],
            availabilityCondition: {
              expression: "resource.name.endsWith('.csv')",
              title: 'csv',
            },
          },
          {
            availableResource: BUCKET,
            availablePermissions: ['inRole:roles/storage.objectAdmin', VIEWER],
          },
        ],
      },
    });
    assert.match(g.accessBoundary!.boundary.sha256, /^[0-9a-f]{64}$/);
  });

  void test('under an emergency ceiling below 1h, delegation is suspended and the grant stays', () => {
    const p = parsePolicy(
      withGrant(delegation(), q => {
        (q as Record<string, unknown>).emergency_max_lifetime = '30m';
      }),
    );
    const g = p.clients.get(NE)!.grants[0]!;
    assert.equal(g.maxLifetimeSeconds, 1800);
    assert.equal(g.delegation, undefined);
    const kept = parsePolicy(
      withGrant({...delegation(), max_lifetime: '1h'}, q => {
        (q as Record<string, unknown>).emergency_max_lifetime = '1h';
      }),
    );
    assert.ok(kept.clients.get(NE)!.grants[0]!.delegation);
  });
});

void describe('subjects', () => {
  const matchers = ['alice@corp.example', '*@ops.example'].map(e => {
    const r = compileSubject(e);
    assert.ok(r.ok);
    return r.value;
  }) as SubjectMatcher[];
  const cases: Array<[string, string | undefined]> = [
    ['alice@corp.example', 'alice@corp.example'],
    ['ALICE@Corp.Example', 'alice@corp.example'],
    ['bob@ops.example', '*@ops.example'],
    ['bob@OPS.example', '*@ops.example'],
    ['bob@corp.example', undefined],
    ['bob@sub.ops.example', undefined],
    ['bob@evil-ops.example', undefined],
    ['bob@ops.example.evil', undefined],
  ];
  for (const [subject, want] of cases) {
    void test(`${subject} → ${want ?? 'no entry'}`, () => {
      const email = parseSubject(subject);
      assert.ok(email);
      assert.equal(matchSubject(matchers, email)?.source, want);
    });
  }
  for (const bad of [
    'alice',
    '@corp.example',
    'a@b',
    '*@ops.example',
    'a b@corp.example',
    'a@corp.example\n',
    `${'a'.repeat(250)}@corp.example`,
  ]) {
    void test(`${JSON.stringify(bad.slice(0, 30))} is not a subject`, () => {
      assert.equal(parseSubject(bad), undefined);
    });
  }
});

void describe('CEL, lexically', () => {
  const ok = [
    "resource.name.startsWith('projects/_/buckets/b/objects/x/')",
    "api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('x/')",
    'resource.name == "a" || (resource.type == \'t\' && !false)',
    "r'raw\\'",
    "'''multi\nline'''",
    '[1, 2.5, 0x1F, 3u] .size() > 1 // a comment',
    "'escaped \\' quote'",
  ];
  for (const e of ok) {
    void test(`accepts ${JSON.stringify(e).slice(0, 60)}`, () =>
      assert.equal(celProblem(e), undefined));
  }
  const bad: Array<[string, RegExp]> = [
    ['', /^is empty$/],
    ['   // only a comment', /^is empty$/],
    ["resource.name.startsWith('x'", /leaves a bracket open/],
    ["a == 'x", /unterminated string at 6/],
    ["'line\nbreak'", /unterminated string/],
    ['a == b)', /unmatched \) at 7/],
    ['a[1)', /unmatched \) at 4/],
    ['a = b', /character CEL does not use at 3/],
    ['a; b', /character CEL does not use/],
    ['x'.repeat(2049), /longer than 2048 characters/],
  ];
  for (const [e, want] of bad) {
    void test(`refuses ${JSON.stringify(e).slice(0, 40)}`, () =>
      assert.match(celProblem(e) ?? '', want));
  }
});

void describe('narrowing: a boundary asked for lies within the allowed one', () => {
  const rule = (
    resource: string,
    permissions: string[],
    expression?: string,
  ): BoundaryRule => ({
    resource,
    permissions,
    ...(expression === undefined ? {} : {condition: {expression}}),
  });
  const A = '//storage.googleapis.com/projects/_/buckets/a';
  const B = '//storage.googleapis.com/projects/_/buckets/b';
  const ADMIN = 'inRole:roles/storage.objectAdmin';
  const allowed = compileBoundary([
    rule(A, [VIEWER, ADMIN]),
    rule(
      B,
      [VIEWER],
      "resource.name.startsWith('projects/_/buckets/b/objects/in/')",
    ),
  ]);
  const cases: Array<[string, BoundaryRule[], RegExp | undefined]> = [
    [
      'the same boundary',
      [
        rule(A, [VIEWER, ADMIN]),
        rule(
          B,
          [VIEWER],
          "resource.name.startsWith('projects/_/buckets/b/objects/in/')",
        ),
      ],
      undefined,
    ],
    ['fewer roles on one resource', [rule(A, [VIEWER])], undefined],
    [
      'a condition added where none is required',
      [rule(A, [VIEWER], "resource.name.endsWith('.csv')")],
      undefined,
    ],
    ['one rule split in two', [rule(A, [VIEWER]), rule(A, [ADMIN])], undefined],
    [
      'another resource',
      [rule('//storage.googleapis.com/projects/_/buckets/c', [VIEWER])],
      /resource .*buckets\/c is not allowed/,
    ],
    [
      'a prefix of an allowed resource name',
      [rule('//storage.googleapis.com/projects/_/buckets/', [VIEWER])],
      /is not allowed/,
    ],
    [
      'a role not listed',
      [rule(A, ['inRole:roles/storage.legacyBucketOwner'])],
      /only inRole:roles\/storage\.objectAdmin, inRole:roles\/storage\.objectViewer may be asked for/,
    ],
    [
      'the required condition dropped',
      [rule(B, [VIEWER])],
      /requires its availability condition/,
    ],
    [
      'the required condition widened',
      [
        rule(
          B,
          [VIEWER],
          "resource.name.startsWith('projects/_/buckets/b/objects/in/') || true",
        ),
      ],
      /requires its availability condition/,
    ],
  ];
  for (const [name, rules, want] of cases) {
    void test(name, () => {
      const why = widening(compileBoundary(rules), allowed);
      if (want === undefined) assert.equal(why, undefined);
      else assert.match(why ?? '', want);
    });
  }

  void test('a boundary in another order or with repeated roles is the same boundary', () => {
    const x = compileBoundary([
      rule(B, [VIEWER]),
      rule(A, [ADMIN, VIEWER, ADMIN]),
    ]);
    const y = compileBoundary([rule(A, [VIEWER, ADMIN]), rule(B, [VIEWER])]);
    assert.equal(x.json, y.json);
    assert.equal(x.sha256, y.sha256);
  });

  void test('a requested boundary is bounded before it is parsed', () => {
    const r = parseRequestedBoundary(`[${'['.repeat(9000)}`);
    assert.deepEqual(r, {ok: false, message: 'is longer than 8192 characters'});
  });
});
