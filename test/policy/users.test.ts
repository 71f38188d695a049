/**
 * `mint: user` entries in the policy: what compiles, every refusal with its path (the
 * same messages `tvm policy check` prints), the kill switch and emergency ceiling, and
 * what `tvm policy explain` says of a user's grant.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {main} from '../../src/cli/main.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {basePolicy, expectPolicyError, toYaml} from './helpers.ts';

type Policy = ReturnType<typeof basePolicy>;
const NE = 'nightly-export';
const G = 'https://www.googleapis.com/auth/';
const SECRET = 'projects/my-proj/secrets/alice-credential/versions/3';

/** The base policy with a user `alice` granted to nightly-export, changed by `edit`. */
function withUser(edit: (p: Policy) => void = () => {}): string {
  const p = basePolicy();
  p.service_accounts.alice = {
    mint: 'user',
    email: 'Alice@Example.com',
    credential_secret: SECRET,
    consented_scopes: ['cloud-platform', 'userinfo.email', 'openid'],
  };
  p.clients[NE]!.allow.push({
    service_account: 'alice',
    scopes: ['cloud-platform'],
    max_lifetime: '1h',
  });
  edit(p);
  return toYaml(p);
}
const alice = (p: Policy) => p.service_accounts.alice!;
const aliceGrant = (p: Policy) => p.clients[NE]!.allow[1]!;

void describe('mint: user entries', () => {
  void test('compile: the user email lower-cased, the credential, the consented scopes, a 1h ceiling', () => {
    const p = parsePolicy(withUser());
    const sa = p.serviceAccounts.get('alice')!;
    assert.equal(sa.mint, 'user');
    assert.equal(sa.email, 'alice@example.com');
    assert.equal(sa.keySecret, undefined);
    assert.equal(sa.lifetimeExtension, false);
    assert.equal(sa.iamMaxLifetimeSeconds, 3600);
    assert.equal(sa.user?.credentialSecret, SECRET);
    assert.deepEqual(
      [...sa.user!.consentedScopes],
      [`${G}cloud-platform`, `${G}userinfo.email`, 'openid'],
    );
    assert.equal(p.serviceAccountsByEmail.get('alice@example.com'), sa);
    const grant = p.clients.get(NE)!.grants[1]!;
    assert.equal(grant.serviceAccount, sa);
    assert.equal(grant.maxLifetimeSeconds, 3600);
    // Service accounts carry no user field at all.
    assert.ok(!('user' in p.serviceAccounts.get('reporting')!));
  });

  void test('max_lifetime may be left out: the default is 1h', () => {
    const p = parsePolicy(withUser(p => delete aliceGrant(p).max_lifetime));
    assert.equal(p.clients.get(NE)!.grants[1]!.maxLifetimeSeconds, 3600);
  });

  const cases: Array<{
    name: string;
    edit: (p: Policy) => void;
    want: Array<[string, string | RegExp]>;
  }> = [
    {
      name: 'a grant scope the user did not consent to (and a default scope outside scopes)',
      edit: p => {
        aliceGrant(p).scopes = ['cloud-platform', 'drive'];
        aliceGrant(p).default_scopes = ['drive'];
      },
      want: [
        [
          'clients.nightly-export.allow[1].scopes[1]',
          `${G}drive is not in service_accounts.alice.consented_scopes: the user did not consent to it, so Google would refuse to refresh for it`,
        ],
      ],
    },
    {
      name: 'a max_lifetime other than 1h',
      edit: p => (aliceGrant(p).max_lifetime = '15m'),
      want: [
        [
          'clients.nightly-export.allow[1].max_lifetime',
          "alice is a user (mint: user): Google's refresh-token grant always issues 1h tokens, so max_lifetime must be 1h (got 900s)",
        ],
      ],
    },
    {
      name: 'more than 1h',
      edit: p => (aliceGrant(p).max_lifetime = '2h'),
      want: [
        [
          'clients.nightly-export.allow[1].max_lifetime',
          /must be 1h \(got 7200s\)$/,
        ],
      ],
    },
    {
      name: 'ID tokens or domain-wide delegation on a user grant',
      edit: p => {
        aliceGrant(p).id_token = {audiences: ['https://app.example.com']};
        aliceGrant(p).delegation = {
          subjects: ['bob@example.com'],
          scopes: ['cloud-platform'],
        };
      },
      want: [
        [
          'clients.nightly-export.allow[1].id_token',
          "not for a user (mint: user): tvm vends only alice's access tokens",
        ],
        [
          'clients.nightly-export.allow[1].delegation',
          'not for a user (mint: user): domain-wide delegation is for service accounts',
        ],
      ],
    },
    {
      name: 'a service account email',
      edit: p => (alice(p).email = 'bot@my-proj.iam.gserviceaccount.com'),
      want: [
        [
          'service_accounts.alice.email',
          'is a service account: use mint: impersonate or mint: key for service accounts',
        ],
      ],
    },
    {
      name: 'not an email',
      edit: p => (alice(p).email = 'alice'),
      want: [
        [
          'service_accounts.alice.email',
          "must be the user's email, e.g. alice@example.com",
        ],
      ],
    },
    {
      name: 'no credential_secret, no consented_scopes',
      edit: p => {
        delete alice(p).credential_secret;
        delete alice(p).consented_scopes;
      },
      want: [
        ['service_accounts.alice.credential_secret', 'required'],
        ['service_accounts.alice.consented_scopes', 'required'],
      ],
    },
    {
      name: 'a credential_secret without a version',
      edit: p =>
        (alice(p).credential_secret = 'projects/my-proj/secrets/alice'),
      want: [
        [
          'service_accounts.alice.credential_secret',
          'must be a Secret Manager version name: projects/PROJECT/secrets/SECRET/versions/VERSION (tvm import-user prints it)',
        ],
      ],
    },
    {
      name: 'consented_scopes empty, a bad scope, a duplicate',
      edit: p => {
        alice(p).consented_scopes = [];
        p.service_accounts.bob = {
          mint: 'user',
          email: 'bob@example.com',
          credential_secret: 'projects/my-proj/secrets/bob/versions/1',
          consented_scopes: [
            'cloud-platform',
            `${G}cloud-platform`,
            'no space',
          ],
        };
      },
      want: [
        ['service_accounts.alice.consented_scopes', 'must not be empty'],
        [
          'service_accounts.bob.consented_scopes[2]',
          /"no space" is not a scope/,
        ],
      ],
    },
    {
      name: 'service-account options on a user entry',
      edit: p => {
        alice(p).key_secret = 'projects/my-proj/secrets/x/versions/1';
        alice(p).lifetime_extension = true;
        alice(p).colour = 'blue';
      },
      want: [
        ['service_accounts.alice.colour', 'unknown key'],
        [
          'service_accounts.alice.key_secret',
          'not for mint: user: the Secret Manager version of the credential is credential_secret',
        ],
        [
          'service_accounts.alice.lifetime_extension',
          "not for mint: user: Google's refresh-token grant always issues 1h tokens",
        ],
      ],
    },
    {
      name: 'the secret of a key, named as a credential',
      edit: p =>
        (alice(p).credential_secret =
          'projects/my-proj/secrets/etl-sa-key/versions/2'),
      want: [
        [
          'service_accounts.alice.credential_secret',
          'the secret is already the key of service_accounts.legacy-etl',
        ],
      ],
    },
    {
      name: 'two users with one credential, and one email',
      edit: p => {
        p.service_accounts.alice2 = {...alice(p)};
      },
      want: [
        [
          'service_accounts.alice2.email',
          'alice@example.com is already service_accounts.alice',
        ],
        [
          'service_accounts.alice2.credential_secret',
          'the secret is already the credential of service_accounts.alice',
        ],
      ],
    },
  ];
  for (const c of cases) {
    void test(`refused: ${c.name}`, () => {
      const e = expectPolicyError(withUser(c.edit));
      assert.deepEqual(
        e.issues.map(i => i.path),
        c.want.map(w => w[0]),
      );
      for (const [i, [, message]] of c.want.entries()) {
        if (typeof message === 'string') {
          assert.equal(e.issues[i]!.message, message);
        } else {
          assert.match(e.issues[i]!.message, message);
        }
      }
    });
  }

  void test('a duplicate consented scope is refused with both indices', () => {
    const e = expectPolicyError(
      withUser(
        p =>
          (alice(p).consented_scopes = [
            'cloud-platform',
            `${G}cloud-platform`,
          ]),
      ),
    );
    assert.deepEqual(e.issues, [
      {
        path: 'service_accounts.alice.consented_scopes[1]',
        message: `duplicate of [0] (${G}cloud-platform)`,
      },
    ]);
  });

  void test('kill switch and emergency ceiling: a disabled user, or a ceiling under 1h, drops its grants', () => {
    const off = parsePolicy(withUser(p => (alice(p).disabled = true)));
    assert.equal(off.clients.get(NE)!.grants.length, 1);
    const ceiling = parsePolicy(
      withUser(p => (p.emergency_max_lifetime = '30m')),
    );
    assert.deepEqual(
      ceiling.clients.get(NE)!.grants.map(g => g.serviceAccount.alias),
      ['reporting'],
    );
  });
});

void describe('tvm policy check and explain with a user entry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-users-'));
  async function tvm(args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      stdout: {write: (c: string) => (stdout += c)},
      stderr: {write: (c: string) => (stderr += c)},
    });
    return {code, stdout, stderr};
  }
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  void test('check: every problem with its path', async () => {
    const path = file(
      'bad.yaml',
      withUser(p => {
        aliceGrant(p).scopes = ['bigquery'];
        aliceGrant(p).max_lifetime = '30m';
      }),
    );
    const r = await tvm(['policy', 'check', path]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      [
        `clients.nightly-export.allow[1].scopes[0]: ${G}bigquery is not in service_accounts.alice.consented_scopes: the user did not consent to it, so Google would refuse to refresh for it`,
        "clients.nightly-export.allow[1].max_lifetime: alice is a user (mint: user): Google's refresh-token grant always issues 1h tokens, so max_lifetime must be 1h (got 1800s)",
        `tvm: ${path} is not a valid policy (2 problems)`,
        '',
      ].join('\n'),
    );
  });

  void test('explain: ALLOW names the user, the credential and the consent', async () => {
    const path = file('ok.yaml', withUser());
    const r = await tvm([
      'policy',
      'explain',
      '--policy',
      path,
      '--client',
      NE,
      '--audience',
      'alice@example.com',
      '--scope',
      'cloud-platform',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /decision: ALLOW alice@example\.com \(alice\), mint user\n/,
    );
    assert.match(
      r.stdout,
      /\n {2}lifetime: 3600s \(grant max_lifetime 3600s\)\n/,
    );
    assert.match(
      r.stdout,
      new RegExp(
        `\\n {2}user: refreshed from the authorized_user credential in ${SECRET}, asking Google for exactly these scopes\\n {2}consented: ${G}cloud-platform ${G}userinfo\\.email openid\\n$`,
      ),
    );
  });

  void test('the overview (tvm policy explain FILE) shows the credential where a key would be, and the consent in JSON', async () => {
    const path = file('overview.yaml', withUser());
    const table = await tvm(['policy', 'explain', path]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      new RegExp(
        `\\nalice +alice@example\\.com +user +1h +${NE} +${SECRET}\\n`,
      ),
    );
    const json = await tvm(['policy', 'explain', path, '--format', 'json']);
    const alice = (
      JSON.parse(json.stdout) as {
        service_accounts: Array<Record<string, unknown>>;
      }
    ).service_accounts.find(a => a.alias === 'alice');
    assert.deepEqual(alice, {
      alias: 'alice',
      email: 'alice@example.com',
      mint: 'user',
      key_secret: null,
      credential_secret: SECRET,
      consented_scopes: [`${G}cloud-platform`, `${G}userinfo.email`, 'openid'],
      lifetime_extension: false,
      iam_max_lifetime_seconds: 3600,
      granted_to: [NE],
    });
  });

  void test('explain: DENY for a consented scope the grant does not allow, and for a lifetime under 1h', async () => {
    const path = file('ok2.yaml', withUser());
    const base = [
      'policy',
      'explain',
      '--policy',
      path,
      '--client',
      NE,
      '--audience',
      'alice',
    ];
    const scope = await tvm([...base, '--scope', 'userinfo.email']);
    assert.equal(scope.code, 1);
    assert.match(
      scope.stdout,
      /decision: DENY\n {2}because: ERR_INVALID_SCOPE: scope not granted for this service account: https:\/\/www\.googleapis\.com\/auth\/userinfo\.email/,
    );
    const short = await tvm([
      ...base,
      '--scope',
      'cloud-platform',
      '--lifetime',
      '600',
    ]);
    assert.equal(short.code, 1);
    assert.match(
      short.stdout,
      /because: ERR_INVALID_REQUEST: tokens for this service account live 3600 seconds; lifetime must be at least that/,
    );
  });
});
