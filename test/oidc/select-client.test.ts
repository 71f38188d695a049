/**
 * Client selection for token exchange: which client of an issuer a verified subject
 * token is, and the words of each refusal (the caller-facing message and the audit
 * detail), as a table. The issuer has three clients: two on one audience told apart by
 * their conditions, one on another audience.
 */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {JwtRejected} from '../../src/errors.ts';
import {selectClient, type ClientHint} from '../../src/oidc/subject-token.ts';
import {parsePolicy} from '../../src/policy/index.ts';

const A = 'https://tvm.example.com';
const B = 'https://other.example.com';
const GH = 'https://token.actions.githubusercontent.com';
const policy = parsePolicy(`
version: 1
service_accounts:
  reporting: {email: reporting@my-proj.iam.gserviceaccount.com}
clients:
  main:
    oidc:
      issuer: ${GH}
      audiences: [${A}]
      claims: {sub: {equals: "repo:org/app:ref:refs/heads/main"}}
    allow: [{service_account: reporting, scopes: [bigquery.readonly]}]
  prod:
    oidc:
      issuer: ${GH}
      audiences: [${A}]
      claims:
        sub: {pattern: "repo:org/*:environment:prod"}
        repository_owner: {equals: org}
    allow: [{service_account: reporting, scopes: [bigquery.readonly]}]
  elsewhere:
    oidc:
      issuer: ${GH}
      audiences: [${B}]
      claims: {sub: {pattern: "repo:org/*:ref:refs/heads/main"}}
    allow: [{service_account: reporting, scopes: [bigquery.readonly]}]
`);
const trust = policy.issuers.get(GH)!;

const main = 'repo:org/app:ref:refs/heads/main';
const dev = 'repo:org/app:ref:refs/heads/dev';
const prod = 'repo:org/api:environment:prod';
/** What a caller that has not authenticated as the client is told. */
const NOT_ACCEPTED =
  'no client accepts this subject token (its issuer, audience and claims); the audit record of this request (X-Request-Id) says which condition failed, and `tvm policy explain --token` shows it offline';

interface Case {
  name: string;
  claims: Record<string, unknown>;
  hint?: ClientHint;
  want: {client: string} | {reason: string; message: string; detail?: string};
}

const cases: Case[] = [
  {
    name: 'exact sub',
    claims: {aud: A, sub: main},
    want: {client: 'main'},
  },
  {
    name: 'pattern and equals',
    claims: {aud: A, sub: prod, repository_owner: 'org'},
    want: {client: 'prod'},
  },
  {
    name: 'audience selects',
    claims: {aud: B, sub: 'repo:org/web:ref:refs/heads/main'},
    want: {client: 'elsewhere'},
  },
  {
    name: 'one-element aud array',
    claims: {aud: [A], sub: main},
    want: {client: 'main'},
  },
  {
    name: 'aud of no client',
    claims: {aud: 'https://nobody.example.com', sub: main},
    want: {
      reason: 'audience_not_trusted',
      message:
        'the subject token\'s aud "https://nobody.example.com" is not an audience trusted for its issuer',
      detail:
        'main: aud "https://nobody.example.com" is not accepted; prod: aud "https://nobody.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/main" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org"); elsewhere: aud "https://nobody.example.com" is not accepted',
    },
  },
  {
    name: 'aud missing',
    claims: {sub: main},
    want: {
      reason: 'missing_aud',
      message: 'the subject token has no aud claim',
    },
  },
  {
    name: 'aud empty array',
    claims: {aud: [], sub: main},
    want: {
      reason: 'missing_aud',
      message: 'the subject token has no aud claim',
    },
  },
  {
    name: 'two auds',
    claims: {aud: [A, B], sub: main},
    want: {
      reason: 'multiple_aud',
      message:
        'the subject token must have exactly one audience (aud); request a token for this service only',
    },
  },
  {
    name: 'aud not a string',
    claims: {aud: [5], sub: main},
    want: {
      reason: 'malformed',
      message: 'the subject token aud is not a string',
    },
  },
  {
    name: 'no client, no hint',
    claims: {aud: A, sub: dev},
    want: {
      reason: 'no_matching_client',
      message: NOT_ACCEPTED,
      detail:
        'main: claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main"); prod: claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org"); elsewhere: aud "https://tvm.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:ref:refs/heads/main")',
    },
  },
  {
    name: 'no client, hint authenticated',
    claims: {aud: A, sub: dev},
    hint: {clientId: 'main', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "main"\'s conditions: claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
      detail:
        'client main: claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
    },
  },
  {
    name: 'no client, hint not authenticated',
    claims: {aud: A, sub: dev},
    hint: {clientId: 'main', authenticated: false},
    want: {
      reason: 'conditions_not_met',
      message: NOT_ACCEPTED,
      detail:
        'main: claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main"); prod: claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org"); elsewhere: aud "https://tvm.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:ref:refs/heads/main")',
    },
  },
  {
    name: 'no client, unknown hint',
    claims: {aud: A, sub: dev},
    hint: {clientId: 'ghost', authenticated: true},
    want: {
      reason: 'no_matching_client',
      message: NOT_ACCEPTED,
      detail:
        'main: claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main"); prod: claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org"); elsewhere: aud "https://tvm.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:ref:refs/heads/main")',
    },
  },
  {
    name: 'own client, other audience',
    claims: {aud: B, sub: main},
    hint: {clientId: 'main', authenticated: true},
    want: {client: 'elsewhere'},
  },
  {
    name: 'own client, untrusted audience',
    claims: {aud: 'https://nobody.example.com', sub: dev},
    hint: {clientId: 'main', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "main"\'s conditions: aud "https://nobody.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
      detail:
        'client main: aud "https://nobody.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
    },
  },
  {
    name: 'only client of the audience, no hint',
    claims: {aud: B, sub: dev},
    want: {
      reason: 'no_matching_client',
      message: NOT_ACCEPTED,
      detail:
        'main: aud "https://other.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main"); prod: aud "https://other.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org"); elsewhere: claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:ref:refs/heads/main")',
    },
  },
  {
    name: 'only client of the audience, hint of another',
    claims: {aud: B, sub: dev},
    hint: {clientId: 'prod', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "prod"\'s conditions: aud "https://other.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org")',
      detail:
        'client prod: aud "https://other.example.com" is not accepted, claim sub "repo:org/app:ref:refs/heads/dev" does not match (condition: sub pattern "repo:org/*:environment:prod"), claim repository_owner is missing (condition: repository_owner equals "org")',
    },
  },
  {
    name: 'claim missing',
    claims: {aud: A, sub: prod},
    hint: {clientId: 'prod', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "prod"\'s conditions: claim repository_owner is missing (condition: repository_owner equals "org")',
      detail:
        'client prod: claim repository_owner is missing (condition: repository_owner equals "org")',
    },
  },
  {
    name: 'claim not a string',
    claims: {aud: A, sub: prod, repository_owner: 42},
    hint: {clientId: 'prod', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "prod"\'s conditions: claim repository_owner "42" does not equal (condition: repository_owner equals "org")',
      detail:
        'client prod: claim repository_owner "42" does not equal (condition: repository_owner equals "org")',
    },
  },
  {
    name: 'claim an object',
    claims: {aud: A, sub: {x: 1}},
    hint: {clientId: 'main', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "main"\'s conditions: claim sub "{\\"x\\":1}" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
      detail:
        'client main: claim sub "{\\"x\\":1}" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
    },
  },
  {
    name: 'long and control characters',
    claims: {aud: A, sub: 'x'.repeat(130) + '\n\u0007"'},
    hint: {clientId: 'main', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "main"\'s conditions: claim sub "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
      detail:
        'client main: claim sub "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
    },
  },
  {
    name: 'control characters',
    claims: {aud: A, sub: 'a\nb\u0007"c'},
    hint: {clientId: 'main', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "main"\'s conditions: claim sub "a\\nb\\u0007\\"c" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
      detail:
        'client main: claim sub "a\\nb\\u0007\\"c" does not equal (condition: sub equals "repo:org/app:ref:refs/heads/main")',
    },
  },
  {
    name: 'inherited claim name',
    claims: {aud: A, sub: prod, ['__proto__']: 'x'},
    hint: {clientId: 'prod', authenticated: true},
    want: {
      reason: 'conditions_not_met',
      message:
        'the subject token does not meet client "prod"\'s conditions: claim repository_owner is missing (condition: repository_owner equals "org")',
      detail:
        'client prod: claim repository_owner is missing (condition: repository_owner equals "org")',
    },
  },
  {
    name: 'matches a hinted client',
    claims: {aud: A, sub: main},
    hint: {clientId: 'prod', authenticated: true},
    want: {client: 'main'},
  },
];

void describe('selectClient: one client of the issuer, or a refusal that says why', () => {
  void test('the issuer compiles to one trust with its clients in policy order', () => {
    assert.deepEqual(
      trust.clients.map(c => c.client.id),
      ['main', 'prod', 'elsewhere'],
    );
  });
  for (const c of cases) {
    void test(c.name, () => {
      const want = c.want;
      if ('client' in want) {
        const got = selectClient(trust, c.claims, c.hint);
        assert.equal(got.client.id, want.client);
        assert.equal(got.client, policy.clients.get(want.client));
        return;
      }
      assert.throws(
        () => selectClient(trust, c.claims, c.hint),
        (e: unknown) => {
          assert.ok(e instanceof JwtRejected);
          assert.equal(e.reason, want.reason);
          assert.equal(e.message, want.message);
          assert.equal(e.detail, want.detail);
          return true;
        },
      );
    });
  }
});
