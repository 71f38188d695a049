/**
 * `tvm policy explain --id-token` and `tvm policy check` on id_token blocks, through
 * the CLI's main() with captured output: the decision the service would take on an ID
 * token, and why; every policy problem with its path.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {main} from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'tvm-explain-id-'));
const policyFile = join(dir, 'policy.yaml');
writeFileSync(
  policyFile,
  `
version: 1
service_accounts:
  invoker:
    email: invoker@my-proj.iam.gserviceaccount.com
  quiet:
    email: quiet@my-proj.iam.gserviceaccount.com
  etl:
    email: etl@other-proj.iam.gserviceaccount.com
    mint: key
    key_secret: projects/my-proj/secrets/etl-key/versions/latest
  reporting:
    email: reporting@my-proj.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: "${'a'.repeat(64)}"
    allow:
      - service_account: invoker
        id_token:
          audiences: [https://reports-abc123-ew.a.run.app, "https://*.internal.example.com"]
      - service_account: quiet
        scopes: [cloud-platform]
        id_token:
          audiences: [https://quiet.example.com]
          include_email: false
      - service_account: etl
        scopes: [cloud-platform]
        id_token:
          audiences: [https://etl.example.com]
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
);

async function tvm(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: {write: (c: string) => (stdout += c)},
    stderr: {write: (c: string) => (stderr += c)},
    now: () => Date.UTC(2026, 10, 29),
    env: {},
  });
  return {code, stdout, stderr};
}

const explain = (...args: string[]) =>
  tvm([
    'policy',
    'explain',
    '--policy',
    policyFile,
    '--client',
    'nightly',
    ...args,
  ]);
const HEAD = (digestLine: string) =>
  `${digestLine}\ncaller: client nightly (its credentials are not checked offline)\n`;

void describe('tvm policy explain --id-token', () => {
  void test('an exact audience: ALLOW, how it matched, the email, the lifetime', async () => {
    const r = await explain(
      '--id-token',
      '--service-account',
      'invoker',
      '--audience',
      'https://reports-abc123-ew.a.run.app',
      '--include-email',
    );
    assert.equal(r.code, 0, r.stderr);
    const [first] = r.stdout.split('\n');
    assert.match(first!, /^policy: .*policy\.yaml \(digest [0-9a-f]{12}\)$/);
    assert.equal(
      r.stdout,
      `${HEAD(first!)}decision: ALLOW an ID token of invoker@my-proj.iam.gserviceaccount.com (invoker), mint impersonate
  audience: https://reports-abc123-ew.a.run.app (listed in id_token.audiences)
  email: included, as asked
  lifetime: 3600s (Google's ID tokens always live 1h)
`,
    );
  });

  void test('a pattern names itself; without --include-email the email is left out', async () => {
    const r = await explain(
      '--id-token',
      '--service-account',
      'invoker@my-proj.iam.gserviceaccount.com',
      '--audience',
      'https://billing.internal.example.com',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /\n {2}audience: https:\/\/billing\.internal\.example\.com \(matches the pattern https:\/\/\*\.internal\.example\.com\)\n {2}email: not included \(--include-email asks for it\)\n/,
    );
  });

  void test('a key-minted account: the email always', async () => {
    const r = await explain(
      '--id-token',
      '--service-account',
      'etl',
      '--audience',
      'https://etl.example.com',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mint key\n/);
    assert.match(
      r.stdout,
      /email: included \(key-based ID tokens always carry it\)/,
    );
  });

  const denials: Array<[string, string[], RegExp]> = [
    [
      'an audience not allowed',
      [
        '--service-account',
        'invoker',
        '--audience',
        'https://a.b.internal.example.com',
      ],
      /^ {2}because: ERR_INVALID_TARGET: this client is not granted ID tokens for the requested audience \(audience not in the id_token audiences of invoker\)$/m,
    ],
    [
      'the email where include_email is false',
      [
        '--service-account',
        'quiet',
        '--audience',
        'https://quiet.example.com',
        '--include-email',
      ],
      /because: ERR_INVALID_TARGET: .*email.* \(include_email is false for quiet\)$/m,
    ],
    [
      'an account granted without id_token',
      ['--service-account', 'reporting', '--audience', 'https://x.example.com'],
      /because: ERR_INVALID_TARGET: this client is not granted ID tokens for the requested service account \(the grant of reporting has no id_token\)$/m,
    ],
    [
      'an audience that is not printable',
      ['--service-account', 'invoker', '--audience', 'https://x y'],
      /because: ERR_INVALID_REQUEST: --audience must be printable ASCII/,
    ],
  ];
  for (const [name, args, because] of denials) {
    void test(`${name}: DENY and why, exit 1`, async () => {
      const r = await explain('--id-token', ...args);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /\ndecision: DENY\n/);
      assert.match(r.stdout, because);
    });
  }

  void test('an access token on a grant of ID tokens alone: DENY invalid_scope', async () => {
    const r = await explain(
      '--audience',
      'invoker',
      '--scope',
      'cloud-platform',
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /because: ERR_INVALID_SCOPE: .*only ID tokens/);
  });

  void test('--service-account names the account of an access token too', async () => {
    const r = await explain(
      '--service-account',
      'reporting',
      '--scope',
      'bigquery.readonly',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /decision: ALLOW reporting@my-proj/);
  });

  const usage: Array<[string, string[], RegExp]> = [
    [
      '--id-token without an account',
      ['--id-token', '--audience', 'https://x.example.com'],
      /name the token audience \(--audience URL\) and the account/,
    ],
    [
      '--id-token with --scope',
      [
        '--id-token',
        '--service-account',
        'invoker',
        '--audience',
        'https://x.example.com',
        '--scope',
        'x',
      ],
      /--scope and --lifetime do not apply/,
    ],
    [
      '--include-email without --id-token',
      ['--audience', 'reporting', '--include-email'],
      /--include-email applies to --id-token only/,
    ],
    [
      'the account named twice',
      ['--audience', 'reporting', '--service-account', 'reporting'],
      /name the account once/,
    ],
  ];
  for (const [name, args, message] of usage) {
    void test(`${name}: exit 2 and why`, async () => {
      const r = await explain(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }
});

void describe('tvm policy check on id_token blocks', () => {
  void test('every problem, each with its path', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `
version: 1
service_accounts:
  invoker:
    email: invoker@my-proj.iam.gserviceaccount.com
  etl:
    email: etl@other-proj.iam.gserviceaccount.com
    mint: key
    key_secret: projects/my-proj/secrets/etl-key/versions/latest
clients:
  nightly:
    api_keys:
      - sha256: "${'a'.repeat(64)}"
    allow:
      - service_account: invoker
        id_token:
          audiences: ["https://reports-*.run.app", "https://*.com/", "https://a.example.com", "https://a.example.com"]
      - service_account: etl
        id_token:
          audiences: [https://etl.example.com]
          include_email: false
`,
    );
    const r = await tvm(['policy', 'check', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(
      lines.map(l => l.split(': ')[0]),
      [
        'clients.nightly.allow[0].id_token.audiences[0]',
        'clients.nightly.allow[0].id_token.audiences[1]',
        'clients.nightly.allow[0].id_token.audiences[3]',
        'clients.nightly.allow[1].id_token.include_email',
        'tvm',
      ],
      r.stderr,
    );
    assert.match(lines[0]!, /whole host label or path segment/);
    assert.match(lines[1]!, /last two labels/);
    assert.match(lines[2]!, /duplicate of \[2\]/);
    assert.match(lines[3]!, /always carry the email/);
    assert.equal(lines[4], `tvm: ${file} is not a valid policy (4 problems)`);
  });

  void test('a valid policy with id_token blocks: OK', async () => {
    const r = await tvm(['policy', 'check', policyFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^OK .*: 1 client, 4 service accounts, digest [0-9a-f]{12}\n$/,
    );
  });
});

void describe('tvm policy explain FILE: the whole policy shows the ID tokens', () => {
  void test('the table: each audience under the scopes, (+email) where the email may be in them', async () => {
    const r = await tvm(['policy', 'explain', policyFile]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const at = (text: string) => lines.find(l => l.includes(text)) ?? '';
    assert.match(
      at('reports-abc123'),
      /^nightly\s+api keys: 1\s+invoker\s+ID token: https:\/\/reports-abc123-ew\.a\.run\.app \(\+email\)\s+1h$/,
    );
    assert.match(
      at('*.internal'),
      /^\s+ID token: https:\/\/\*\.internal\.example\.com \(\+email\)$/,
    );
    assert.match(
      at('quiet.example'),
      /ID token: https:\/\/quiet\.example\.com$/,
    );
    assert.ok(
      lines.includes(
        "ID token: an audience the client may have ID tokens for (they live 1h; (+email): the account's email may be in them).",
      ),
    );
  });

  void test('JSON: id_token with the audiences as written and include_email; null where there is none', async () => {
    const r = await tvm(['policy', 'explain', policyFile, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      clients: Array<{
        grants: Array<{service_account: string; id_token: unknown}>;
      }>;
    };
    const byAccount = Object.fromEntries(
      doc.clients[0]!.grants.map(g => [g.service_account, g.id_token]),
    );
    assert.deepEqual(byAccount, {
      invoker: {
        audiences: [
          'https://reports-abc123-ew.a.run.app',
          'https://*.internal.example.com',
        ],
        include_email: true,
      },
      quiet: {audiences: ['https://quiet.example.com'], include_email: false},
      etl: {audiences: ['https://etl.example.com'], include_email: true},
      reporting: null,
    });
  });

  void test('dot: the audiences on the edge to the account', async () => {
    const r = await tvm(['policy', 'explain', policyFile, '--format', 'dot']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout.includes(
        '"client:nightly" -> "sa:quiet" [label="cloud-platform\\nID token: https://quiet.example.com\\nup to 1h"];',
      ),
      r.stdout,
    );
  });
});
