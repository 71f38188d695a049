/**
 * The `id_token` block of a grant: what compiles, what is refused with its path, and
 * which audiences a compiled block allows.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {parsePolicy} from '../../src/policy/index.ts';
import {audienceAllowed} from '../../src/policy/id-token.ts';
import {authorize} from '../../src/grants/authorize.ts';
import {TvmError} from '../../src/errors.ts';
import {basePolicy, expectPolicyError, issuePaths, toYaml} from './helpers.ts';

type Policy = ReturnType<typeof basePolicy>;
const NE = 'nightly-export';

function edited(edit: (p: Policy) => void): string {
  const p = basePolicy();
  edit(p);
  return toYaml(p);
}

const grant0 = (p: Policy) => p.clients[NE]!.allow[0]!;
const withIdToken = (idToken: unknown) =>
  edited(p => (grant0(p).id_token = idToken));

void describe('id_token compiles', () => {
  void test('exact audiences and patterns; include_email defaults to true', () => {
    const policy = parsePolicy(
      withIdToken({
        audiences: [
          'https://reports-abc123-ew.a.run.app',
          '123-abc.apps.googleusercontent.com',
          'https://*.internal.example.com',
          'https://api.example.com/v1/*',
        ],
      }),
    );
    const g = policy.clients.get(NE)!.grants[0]!;
    assert.ok(g.idToken);
    assert.equal(g.idToken.includeEmail, true);
    assert.deepEqual(
      [...g.idToken.audiences],
      [
        'https://reports-abc123-ew.a.run.app',
        '123-abc.apps.googleusercontent.com',
      ],
    );
    assert.deepEqual(
      g.idToken.patterns.map(p => p.source),
      ['https://*.internal.example.com', 'https://api.example.com/v1/*'],
    );
    assert.ok(Object.isFrozen(g.idToken));
    // The access-token side of the grant is unchanged.
    assert.deepEqual(
      [...g.scopes],
      ['https://www.googleapis.com/auth/bigquery.readonly'],
    );
  });

  void test('a grant of ID tokens alone has no scopes, and refuses access tokens', () => {
    const policy = parsePolicy(
      edited(p => {
        delete grant0(p).scopes;
        grant0(p).id_token = {audiences: ['https://a.example.com']};
      }),
    );
    const client = policy.clients.get(NE)!;
    assert.equal(client.grants[0]!.scopes.size, 0);
    assert.throws(
      () =>
        authorize(policy, client, {
          audience: 'reporting',
          scope: 'bigquery.readonly',
          lifetimeSeconds: undefined,
        }),
      (e: unknown) =>
        e instanceof TvmError &&
        e.code === 'ERR_INVALID_SCOPE' &&
        /only ID tokens/.test(e.message),
    );
  });

  void test('include_email: true is allowed on a key-minted account', () => {
    const policy = parsePolicy(
      edited(p =>
        p.clients[NE]!.allow.push({
          service_account: 'legacy-etl',
          scopes: ['cloud-platform'],
          max_lifetime: '1h',
          id_token: {audiences: ['https://a.example.com'], include_email: true},
        }),
      ),
    );
    assert.equal(
      policy.clients.get(NE)!.grants[1]!.idToken?.includeEmail,
      true,
    );
  });

  void test('the emergency ceiling under one hour takes ID tokens away (they always live 1h)', () => {
    const under = parsePolicy(
      edited(p => {
        p.emergency_max_lifetime = '30m';
        grant0(p).id_token = {audiences: ['https://a.example.com']};
      }),
    );
    const g = under.clients.get(NE)!.grants[0]!;
    assert.equal(g.idToken, undefined);
    assert.equal(g.maxLifetimeSeconds, 15 * 60);
    const at = parsePolicy(
      edited(p => {
        p.emergency_max_lifetime = '1h';
        grant0(p).id_token = {audiences: ['https://a.example.com']};
      }),
    );
    assert.ok(at.clients.get(NE)!.grants[0]!.idToken);
  });
});

void describe('id_token refusals name their path', () => {
  const cases: Array<{
    name: string;
    input: string;
    want: string[];
    message?: RegExp;
  }> = [
    {
      name: 'no scopes and no id_token',
      input: edited(p => delete grant0(p).scopes),
      want: [`clients.${NE}.allow[0].scopes`],
      message: /id_token/,
    },
    {
      name: 'empty audiences',
      input: withIdToken({audiences: []}),
      want: [`clients.${NE}.allow[0].id_token.audiences`],
      message: /must not be empty/,
    },
    {
      name: 'audiences missing',
      input: withIdToken({include_email: true}),
      want: [`clients.${NE}.allow[0].id_token.audiences`],
      message: /required/,
    },
    {
      name: 'unknown key in id_token',
      input: withIdToken({audiences: ['https://a.example.com'], lifetime: 60}),
      want: [`clients.${NE}.allow[0].id_token.lifetime`],
      message: /unknown key/,
    },
    {
      name: 'include_email not a boolean',
      input: withIdToken({
        audiences: ['https://a.example.com'],
        include_email: 'yes',
      }),
      want: [`clients.${NE}.allow[0].id_token.include_email`],
    },
    {
      name: 'include_email: false on a key-minted account',
      input: edited(p =>
        p.clients[NE]!.allow.push({
          service_account: 'legacy-etl',
          scopes: ['cloud-platform'],
          max_lifetime: '1h',
          id_token: {
            audiences: ['https://a.example.com'],
            include_email: false,
          },
        }),
      ),
      want: [`clients.${NE}.allow[1].id_token.include_email`],
      message: /always carry the email/,
    },
    {
      name: 'duplicate audience',
      input: withIdToken({
        audiences: ['https://a.example.com', 'https://a.example.com'],
      }),
      want: [`clients.${NE}.allow[0].id_token.audiences[1]`],
      message: /duplicate of \[0\]/,
    },
    {
      name: 'an audience with a space',
      input: withIdToken({audiences: ['https://a.example.com/x y']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /printable ASCII/,
    },
    {
      name: 'too many audiences',
      input: withIdToken({
        audiences: Array.from({length: 51}, (_, i) => `https://a${i}.example`),
      }),
      want: [`clients.${NE}.allow[0].id_token.audiences`],
      message: /at most 50/,
    },
    {
      name: 'a * glued to other text',
      input: withIdToken({audiences: ['https://reports-*.example.com']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /whole host label or path segment/,
    },
    {
      name: 'a * in the last two labels of the host',
      input: withIdToken({audiences: ['https://service.*.com']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /last two labels/,
    },
    {
      name: 'a pattern on a bare top-level domain',
      input: withIdToken({audiences: ['https://*.com/']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /last two labels/,
    },
    {
      name: 'a pattern that is not an https URL',
      input: withIdToken({audiences: ['*.apps.googleusercontent.com']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /https:\/\/ URL/,
    },
    {
      name: 'a pattern with userinfo',
      input: withIdToken({audiences: ['https://me@*.example.com']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /userinfo/,
    },
    {
      name: 'a pattern with a wildcard port',
      input: withIdToken({audiences: ['https://*.example.com:*/']}),
      want: [`clients.${NE}.allow[0].id_token.audiences[0]`],
      message: /port/,
    },
    {
      name: 'id_token not a mapping',
      input: withIdToken(['https://a.example.com']),
      want: [`clients.${NE}.allow[0].id_token`],
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const e = expectPolicyError(c.input);
      assert.deepEqual(issuePaths(e), c.want, JSON.stringify(e.issues));
      if (c.message) assert.match(e.issues[0]!.message, c.message);
    });
  }
});

void describe('which audiences a compiled block allows', () => {
  const policy = parsePolicy(
    withIdToken({
      audiences: [
        'https://reports-abc123-ew.a.run.app',
        'https://*.internal.example.com',
        'https://api.example.com/v1/*',
      ],
    }),
  );
  const block = policy.clients.get(NE)!.grants[0]!.idToken!;
  const table: Array<[string, boolean]> = [
    ['https://reports-abc123-ew.a.run.app', true],
    // Exact means exact: no trailing slash, no case folding, no prefix.
    ['https://reports-abc123-ew.a.run.app/', false],
    ['HTTPS://reports-abc123-ew.a.run.app', false],
    ['https://reports-abc123-ew.a.run.app.evil.example', false],
    ['https://billing.internal.example.com', true],
    ['https://a-b_c~d.internal.example.com', true],
    // One label, never two, never the empty one, never across a separator.
    ['https://a.b.internal.example.com', false],
    ['https://.internal.example.com', false],
    ['https://internal.example.com', false],
    ['https://billing.internal.example.com/', false],
    ['https://evil.example/x.internal.example.com', false],
    ['https://x@y.internal.example.com', false],
    ['https://x%2e.internal.example.com', false],
    ['https://billing.internal.example.com.evil.example', false],
    ['https://api.example.com/v1/orders', true],
    ['https://api.example.com/v1/', false],
    ['https://api.example.com/v1/orders/1', false],
    ['https://api.example.com/v1/..', false],
    ['https://api.example.com/v1/orders?x=1', false],
    ['https://api.example.com/v1/a\nb', false],
  ];
  for (const [audience, want] of table) {
    void test(`${JSON.stringify(audience)}: ${want ? 'allowed' : 'refused'}`, () => {
      assert.equal(audienceAllowed(block, audience), want);
    });
  }
});
