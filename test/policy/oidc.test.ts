/**
 * The policy's keyless trust blocks: `oidc` (token exchange) and `private_key_jwt`
 * (client assertions). What compiles, what is refused and at which path, and the
 * load-time rule that a subject token authenticates at most one client.
 */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {generateKeyPairSync} from 'node:crypto';
import {parsePolicy} from '../../src/policy/index.ts';
import {compileGlob, globsOverlap} from '../../src/policy/pattern.ts';
import {basePolicy, expectPolicyError, issuePaths, toYaml} from './helpers.ts';

const GH = 'https://token.actions.githubusercontent.com';
const rsa = generateKeyPairSync('rsa', {modulusLength: 2048});
const rsaPublic = {...rsa.publicKey.export({format: 'jwk'}), kid: 'k1'};
const rsaPrivate = {...rsa.privateKey.export({format: 'jwk'}), kid: 'k1'};
const ec = generateKeyPairSync('ec', {namedCurve: 'P-256'});
const ecPublic = {...ec.publicKey.export({format: 'jwk'}), kid: 'e1'};
const small = generateKeyPairSync('rsa', {modulusLength: 1024});
const smallPublic = small.publicKey.export({format: 'jwk'});

type Policy = ReturnType<typeof basePolicy>;

function withOidc(
  oidc: Record<string, unknown>,
  edit: (p: Policy) => void = () => undefined,
): string {
  const p = basePolicy();
  p.clients.gha = {
    oidc: {
      issuer: GH,
      audiences: ['https://tvm.example.com'],
      claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/main'}},
      ...oidc,
    },
    allow: [{service_account: 'reporting', scopes: ['bigquery.readonly']}],
  };
  edit(p);
  return toYaml(p);
}

function second(oidc: Record<string, unknown>): (p: Policy) => void {
  return p => {
    p.clients.other = {
      oidc: {issuer: GH, audiences: ['https://tvm.example.com'], ...oidc},
      allow: [{service_account: 'reporting', scopes: ['bigquery.readonly']}],
    };
  };
}

void describe('oidc: what compiles', () => {
  void test('issuer, audiences, conditions, default algorithms, discovery', () => {
    const p = parsePolicy(
      withOidc({
        claims: {
          sub: {pattern: 'repo:my-org/*:ref:refs/heads/main'},
          repository_owner: {equals: 'my-org'},
        },
      }),
    );
    const c = p.clients.get('gha')!;
    const t = p.issuers.get(GH)!;
    const [entry] = t.clients;
    assert.equal(t.issuer, GH);
    assert.deepEqual([...entry!.audiences], ['https://tvm.example.com']);
    assert.deepEqual(t.algorithms, ['RS256', 'ES256']);
    assert.deepEqual(t.keys, {kind: 'discovery'});
    assert.deepEqual(
      entry?.conditions.map(x => [x.claim, x.kind, x.value]),
      [
        ['sub', 'pattern', 'repo:my-org/*:ref:refs/heads/main'],
        ['repository_owner', 'equals', 'my-org'],
      ],
    );
    assert.equal(c.apiKeys.length, 0);
    assert.deepEqual(
      t.clients.map(e => e.client),
      [c],
    );
    assert.equal(entry?.client, c);
    assert.ok(Object.isFrozen(t));
    assert.ok(Object.isFrozen(t.clients));
    assert.ok(Object.isFrozen(entry));
    assert.ok(Object.isFrozen(entry?.conditions));
  });

  void test('a pinned JWKS and explicit algorithms', () => {
    const p = parsePolicy(
      withOidc({jwks: {keys: [rsaPublic, ecPublic]}, algorithms: ['ES256']}),
    );
    const keys = p.issuers.get(GH)!.keys;
    assert.equal(keys.kind, 'static');
    assert.equal(keys.kind === 'static' && keys.jwks.keys.length, 2);
    assert.equal(typeof (keys.kind === 'static' && keys.getKey), 'function');
    assert.deepEqual(p.issuers.get(GH)!.algorithms, ['ES256']);
  });

  void test('a jwks_uri instead of discovery; an issuer with a path and a trailing slash', () => {
    const p = parsePolicy(
      withOidc({
        issuer: 'https://tenant.auth0.example.com/',
        jwks_uri: 'https://keys.example.com/jwks.json?v=2',
      }),
    );
    const o = p.issuers.get('https://tenant.auth0.example.com/')!;
    assert.equal(o.issuer, 'https://tenant.auth0.example.com/');
    assert.deepEqual(o.keys, {
      kind: 'jwks_uri',
      jwksUri: 'https://keys.example.com/jwks.json?v=2',
    });
  });

  void test('private_key_jwt with a pinned key or a jwks_uri, no api_keys', () => {
    const p = parsePolicy(
      toYaml({
        ...basePolicy(),
        clients: {
          partner: {
            private_key_jwt: {jwks: {keys: [rsaPublic]}},
            allow: [
              {service_account: 'reporting', scopes: ['bigquery.readonly']},
            ],
          },
          remote: {
            private_key_jwt: {
              jwks_uri: 'https://partner.example.com/jwks',
              algorithms: ['PS256'],
            },
            allow: [
              {service_account: 'reporting', scopes: ['bigquery.readonly']},
            ],
          },
        },
      }),
    );
    assert.equal(p.clients.get('partner')?.privateKeyJwt?.keys.kind, 'static');
    assert.deepEqual(p.clients.get('remote')?.privateKeyJwt, {
      algorithms: ['PS256'],
      keys: {kind: 'jwks_uri', jwksUri: 'https://partner.example.com/jwks'},
    });
    assert.equal(p.issuers.size, 0);
  });

  void test('API keys are indexed by hash for bearer callers', () => {
    const p = parsePolicy(toYaml(basePolicy()));
    assert.equal(p.clientsByApiKey.get('a'.repeat(64))?.id, 'nightly-export');
  });
});

void describe('oidc: trust compiled per issuer', () => {
  const GL = 'https://gitlab.example.com';
  const allow = [{service_account: 'reporting', scopes: ['bigquery.readonly']}];
  const client = (issuer: string, sub: string, extra = {}) => ({
    oidc: {
      issuer,
      audiences: ['https://tvm.example.com'],
      claims: {sub: {equals: sub}},
      ...extra,
    },
    allow,
  });
  const cases: Array<{
    name: string;
    clients: Record<string, unknown>;
    want: Record<string, string[]>;
  }> = [
    {
      name: 'no oidc client: no issuer',
      clients: {},
      want: {},
    },
    {
      name: 'one client',
      clients: {a: client(GH, 'x')},
      want: {[GH]: ['a']},
    },
    {
      name: 'two clients of one issuer: one trust, in policy order',
      clients: {b: client(GH, 'x'), a: client(GH, 'y')},
      want: {[GH]: ['b', 'a']},
    },
    {
      name: 'clients of two issuers: one trust each, in order of first use',
      clients: {
        a: client(GL, 'x'),
        b: client(GH, 'x'),
        c: client(GL, 'y'),
      },
      want: {[GL]: ['a', 'c'], [GH]: ['b']},
    },
    {
      name: 'issuers are exact strings: a trailing slash is another issuer',
      clients: {a: client(GH, 'x'), b: client(`${GH}/`, 'x')},
      want: {[GH]: ['a'], [`${GH}/`]: ['b']},
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const p = parsePolicy(
        toYaml({
          ...basePolicy(),
          clients: {...basePolicy().clients, ...c.clients},
        }),
      );
      const got = Object.fromEntries(
        [...p.issuers].map(([iss, t]) => [
          iss,
          t.clients.map(e => e.client.id),
        ]),
      );
      assert.deepEqual(got, c.want);
      for (const [iss, t] of p.issuers) {
        assert.equal(t.issuer, iss);
        assert.ok(Object.isFrozen(t) && Object.isFrozen(t.clients));
        for (const e of t.clients) {
          assert.equal(e.client, p.clients.get(e.client.id));
        }
      }
    });
  }

  void test("the issuer's keys and algorithms are those its clients agree on", () => {
    const jwks = {keys: [rsaPublic]};
    const p = parsePolicy(
      withOidc(
        {jwks, algorithms: ['RS256']},
        second({
          jwks,
          algorithms: ['RS256'],
          claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/dev'}},
        }),
      ),
    );
    const t = p.issuers.get(GH)!;
    assert.equal(t.keys.kind, 'static');
    assert.deepEqual(t.keys.kind === 'static' && t.keys.jwks, jwks);
    assert.deepEqual(t.algorithms, ['RS256']);
    assert.deepEqual(
      t.clients.map(e => [e.client.id, [...e.audiences]]),
      [
        ['gha', ['https://tvm.example.com']],
        ['other', ['https://tvm.example.com']],
      ],
    );
  });
});

void describe('oidc: refused at load, by path', () => {
  const at = 'clients.gha.oidc';
  const cases: {name: string; input: string; want: string; message?: RegExp}[] =
    [
      {
        name: 'http issuer',
        input: withOidc({issuer: 'http://token.actions.githubusercontent.com'}),
        want: `${at}.issuer`,
        message: /https/,
      },
      {
        name: 'issuer with userinfo',
        input: withOidc({
          issuer: 'https://evil@token.actions.githubusercontent.com',
        }),
        want: `${at}.issuer`,
        message: /userinfo/,
      },
      {
        name: 'issuer with a query',
        input: withOidc({issuer: `${GH}?x=1`}),
        want: `${at}.issuer`,
      },
      {
        name: 'issuer with a fragment',
        input: withOidc({issuer: `${GH}#x`}),
        want: `${at}.issuer`,
      },
      {
        name: 'issuer with ..',
        input: withOidc({issuer: 'https://example.com/a/../b'}),
        want: `${at}.issuer`,
        message: /canonical/,
      },
      {
        name: 'issuer with upper-case host',
        input: withOidc({
          issuer: 'https://Token.Actions.GithubUserContent.com',
        }),
        want: `${at}.issuer`,
        message: /canonical/,
      },
      {
        name: 'issuer with the default port',
        input: withOidc({issuer: 'https://example.com:443'}),
        want: `${at}.issuer`,
      },
      {
        name: 'issuer with a non-ASCII host',
        input: withOidc({issuer: 'https://exämple.com'}),
        want: `${at}.issuer`,
        message: /punycode/,
      },
      {
        name: 'issuer with CR/LF',
        input: withOidc({issuer: 'https://example.com/\r\nx'}),
        want: `${at}.issuer`,
      },
      {
        name: 'no audiences',
        input: withOidc({audiences: []}),
        want: `${at}.audiences`,
      },
      {
        name: 'no condition on sub',
        input: withOidc({claims: {repository_owner: {equals: 'my-org'}}}),
        want: `${at}.claims`,
        message: /sub is required/,
      },
      {
        name: 'a condition on a reserved claim',
        input: withOidc({
          claims: {sub: {equals: 'x'}, aud: {equals: 'y'}},
        }),
        want: `${at}.claims.aud`,
      },
      {
        name: 'both equals and pattern',
        input: withOidc({claims: {sub: {equals: 'a', pattern: 'a/*'}}}),
        want: `${at}.claims.sub`,
      },
      {
        name: 'neither equals nor pattern',
        input: withOidc({claims: {sub: {}}}),
        want: `${at}.claims.sub`,
      },
      {
        name: 'unknown key in a condition',
        input: withOidc({claims: {sub: {regex: '.*'}}}),
        want: `${at}.claims.sub.regex`,
      },
      {
        name: 'a __proto__ claim is refused, not dropped',
        input: withOidc({}).replace(
          '      sub:',
          '      __proto__:\n        equals: x\n      sub:',
        ),
        want: `${at}.claims.__proto__`,
      },
      {
        name: 'pattern: * glued to a name (org prefix)',
        input: withOidc({claims: {sub: {pattern: 'repo:my-org*/app:*'}}}),
        want: `${at}.claims.sub.pattern`,
        message: /whole segment/,
      },
      {
        name: 'pattern: https://.*.example.com',
        input: withOidc({
          claims: {
            sub: {equals: 'x'},
            url: {pattern: 'https://.*.example.com'},
          },
        }),
        want: `${at}.claims.url.pattern`,
        message: /widen trust/,
      },
      {
        name: 'pattern: *.example.com',
        input: withOidc({
          claims: {sub: {equals: 'x'}, host: {pattern: '*.example.com'}},
        }),
        want: `${at}.claims.host.pattern`,
      },
      {
        name: 'pattern: ** ',
        input: withOidc({claims: {sub: {pattern: 'repo:org/**'}}}),
        want: `${at}.claims.sub.pattern`,
      },
      {
        name: 'pattern: wildcards only',
        input: withOidc({claims: {sub: {pattern: '*:*'}}}),
        want: `${at}.claims.sub.pattern`,
        message: /wildcards only/,
      },
      {
        name: 'pattern without *',
        input: withOidc({claims: {sub: {pattern: 'repo:org/app'}}}),
        want: `${at}.claims.sub.pattern`,
        message: /equals/,
      },
      {
        name: 'algorithm none',
        input: withOidc({algorithms: ['none']}),
        want: `${at}.algorithms[0]`,
      },
      {
        name: 'algorithm HS256',
        input: withOidc({algorithms: ['HS256']}),
        want: `${at}.algorithms[0]`,
        message: /^must be one of: RS256, [^H]*$/,
      },
      {
        name: 'jwks and jwks_uri together',
        input: withOidc({
          jwks: {keys: [rsaPublic]},
          jwks_uri: 'https://example.com/jwks',
        }),
        want: at,
      },
      {
        name: 'http jwks_uri',
        input: withOidc({jwks_uri: 'http://example.com/jwks'}),
        want: `${at}.jwks_uri`,
      },
      {
        name: 'a private key in the jwks',
        input: withOidc({jwks: {keys: [rsaPrivate]}}),
        want: `${at}.jwks.keys[0].d`,
        message: /leaked/,
      },
      {
        name: 'a symmetric key in the jwks',
        input: withOidc({jwks: {keys: [{kty: 'oct', k: 'c2VjcmV0'}]}}),
        want: `${at}.jwks.keys[0].k`,
      },
      {
        name: 'an RSA key under 2048 bits',
        input: withOidc({jwks: {keys: [smallPublic]}}),
        want: `${at}.jwks.keys[0]`,
        message: /2048/,
      },
      {
        name: 'two keys with one kid',
        input: withOidc({jwks: {keys: [rsaPublic, {...ecPublic, kid: 'k1'}]}}),
        want: `${at}.jwks.keys[1].kid`,
      },
      {
        name: 'a broken key',
        input: withOidc({jwks: {keys: [{kty: 'RSA', n: 'AQAB', e: 'AQAB'}]}}),
        want: `${at}.jwks.keys[0]`,
      },
      {
        name: 'private_key_jwt without keys',
        input: withOidc({}, p => {
          p.clients.gha!.private_key_jwt = {algorithms: ['RS256']};
        }),
        want: 'clients.gha.private_key_jwt',
      },
    ];
  for (const c of cases) {
    void test(c.name, () => {
      const e = expectPolicyError(c.input);
      assert.ok(
        issuePaths(e).includes(c.want),
        `${c.want} not in ${JSON.stringify(e.issues)}`,
      );
      if (c.message) {
        const issue = e.issues.find(i => i.path === c.want)!;
        assert.match(issue.message, c.message);
      }
    });
  }
});

void describe('oidc: a token authenticates at most one client', () => {
  const cases: {
    name: string;
    other: Record<string, unknown>;
    ambiguous: boolean;
  }[] = [
    {
      name: 'same sub value',
      other: {claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/main'}}},
      ambiguous: true,
    },
    {
      name: 'a pattern that covers the other client sub',
      other: {claims: {sub: {pattern: 'repo:my-org/*:ref:refs/heads/main'}}},
      ambiguous: true,
    },
    {
      name: 'a condition on another claim does not tell them apart',
      other: {
        claims: {
          sub: {pattern: 'repo:my-org/app:ref:refs/heads/*'},
          environment: {equals: 'prod'},
        },
      },
      ambiguous: true,
    },
    {
      name: 'different sub values',
      other: {claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/dev'}}},
      ambiguous: false,
    },
    {
      name: 'a pattern that cannot meet the other value',
      other: {claims: {sub: {pattern: 'repo:other-org/*:ref:refs/heads/main'}}},
      ambiguous: false,
    },
    {
      name: 'a pattern of another shape',
      other: {claims: {sub: {pattern: 'repo:my-org/*:environment:*'}}},
      ambiguous: false,
    },
    {
      name: 'disjoint audiences',
      other: {
        audiences: ['https://other.example.com'],
        claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/main'}},
      },
      ambiguous: false,
    },
  ];
  for (const c of cases) {
    void test(`${c.name}: ${c.ambiguous ? 'refused' : 'accepted'}`, () => {
      const text = withOidc({}, second(c.other));
      if (!c.ambiguous) {
        assert.equal(parsePolicy(text).issuers.get(GH)?.clients.length, 2);
        return;
      }
      const e = expectPolicyError(text);
      const issue = e.issues.find(i => i.path === 'clients.other.oidc');
      assert.ok(issue, JSON.stringify(e.issues));
      assert.match(issue.message, /clients\.gha/);
    });
  }

  void test('clients of one issuer must agree on its keys and algorithms', () => {
    const e = expectPolicyError(
      withOidc(
        {},
        second({
          claims: {sub: {equals: 'repo:my-org/app:ref:refs/heads/dev'}},
          algorithms: ['ES256'],
        }),
      ),
    );
    const issue = e.issues.find(i => i.path === 'clients.other.oidc');
    assert.match(issue?.message ?? '', /must agree/);
  });

  void test('two pattern conditions on a common claim: overlap decided segment by segment', () => {
    const g = (p: string) => {
      const r = compileGlob(p);
      assert.ok(r.ok, p);
      return r.value;
    };
    const rows: [string, string, boolean][] = [
      ['repo:a/*:ref:*', 'repo:*/b:ref:main', true],
      ['repo:a/*:ref:*', 'repo:b/*:ref:*', false],
      ['repo:a/*', 'repo:a/*:ref:x', false],
      ['a/*/c', 'x/*/c', false],
      ['x:*', 'x:*', true],
    ];
    for (const [a, b, want] of rows) {
      assert.equal(globsOverlap(g(a), g(b)), want, `${a} vs ${b}`);
    }
  });

  void test('a * matches one whole segment, never across / or :', () => {
    const r = compileGlob('repo:my-org/*:ref:refs/heads/*');
    assert.ok(r.ok);
    const m = (s: string) => r.value.regex.test(s);
    assert.ok(m('repo:my-org/app:ref:refs/heads/main'));
    assert.ok(m('repo:my-org/app.js:ref:refs/heads/v1.2'));
    assert.ok(!m('repo:my-org/app:ref:refs/heads/feature/x'));
    assert.ok(!m('repo:my-org/a/b:ref:refs/heads/main'));
    assert.ok(!m('repo:my-org/:ref:refs/heads/main'));
    assert.ok(!m('repo:my-org-evil/app:ref:refs/heads/main'));
    assert.ok(!m('xrepo:my-org/app:ref:refs/heads/main'));
    assert.ok(!m('repo:my-org/app:ref:refs/heads/main\n'));
  });
});
