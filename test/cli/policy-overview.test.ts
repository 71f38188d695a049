/**
 * `tvm policy explain FILE` without a question: the whole policy as a table, a JSON
 * document and a Graphviz digraph, run as a user runs it (bin/tvm.js in a child
 * process) on the demo policy and on a richer one with every way to authenticate,
 * the kill switch, and hostile text in the places policy text can go. The DOT is
 * rendered by Graphviz's own `dot` (Debian's graphviz, installed by .ci/run); the
 * README's picture of the demo policy must be drawn from the demo policy as it is.
 */

import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {mkdtemp, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {exportJWK, generateKeyPair} from 'jose';
import {ROOT, tvm, userEnv} from './run-tvm.ts';

const DEMO = join(ROOT, 'policy', 'demo.yaml');
const KEY_A = 'a1'.repeat(32);
const KEY_B = 'b2'.repeat(32);
const KEY_OFF = 'c3'.repeat(32);
const KEY_RETIRED = 'd4'.repeat(32);
/** Text that would break a DOT string, a DOT statement, a table line or a label. */
const HOSTILE = 'x"; \\N -> "sa:reporting" [label=pwn] } \\\n<b>&amp;';
/** Longer than a label line keeps, in characters outside the BMP. */
const LONG = '\u{1F600}'.repeat(100);

let env: Record<string, string>;
let rich: string;
let richText: string;

before(async () => {
  env = await userEnv();
  const jwk = async (kid: string) => ({
    ...(await exportJWK(
      (await generateKeyPair('ES256', {extractable: true})).publicKey,
    )),
    kid,
  });
  const cluster = {keys: [await jwk('c1')]};
  const partner = {keys: [await jwk('p1'), await jwk('p2')]};
  richText = `
version: 1
service_accounts:
  reporting:
    email: reporting@my-proj.iam.gserviceaccount.com
  batch:
    email: batch@my-proj.iam.gserviceaccount.com
    lifetime_extension: true
  etl:
    email: etl@my-proj.iam.gserviceaccount.com
    mint: key
    key_secret: projects/my-proj/secrets/etl-key/versions/3
  old:
    email: old@my-proj.iam.gserviceaccount.com
    disabled: true
clients:
  nightly:
    description: ${JSON.stringify(HOSTILE)}
    api_keys:
      - sha256: "${KEY_A}"
        expires: "2027-01-31"
      - sha256: "${KEY_B}"
      - sha256: "${KEY_OFF}"
        disabled: true
    source_ranges: [10.0.0.0/8, "2001:db8::/32"]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly, devstorage.read_only]
        default_scopes: [bigquery.readonly]
        max_lifetime: 15m
      - service_account: batch
        scopes: [cloud-platform]
        max_lifetime: 4h
      - service_account: old
        scopes: [cloud-platform]
  gha-main:
    oidc:
      issuer: https://token.actions.githubusercontent.com
      audiences: [https://tvm.example.com]
      claims:
        sub: {pattern: "repo:my-org/*:ref:refs/heads/main"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 10m
  gha-release:
    oidc:
      issuer: https://token.actions.githubusercontent.com
      audiences: [https://tvm.example.com/release]
      claims:
        sub: {pattern: "repo:my-org/*:ref:refs/tags/*"}
        repository_owner: {equals: ${JSON.stringify(HOSTILE)}}
    allow:
      - service_account: etl
        scopes: [cloud-platform]
  cluster:
    oidc:
      issuer: https://cluster.example.com
      audiences: [${JSON.stringify(HOSTILE)}, ${JSON.stringify(LONG)}]
      jwks: ${JSON.stringify(cluster)}
      claims:
        sub: {equals: "system:serviceaccount:jobs:export"}
    allow:
      - service_account: reporting
        scopes: ["https://www.googleapis.com/auth/cloud-platform.read-only"]
        max_lifetime: 90s
  partner:
    private_key_jwt:
      jwks: ${JSON.stringify(partner)}
    allow:
      - service_account: etl
        scopes: [cloud-platform]
        max_lifetime: 1h
  retired:
    disabled: true
    api_keys:
      - sha256: "${KEY_RETIRED}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`;
  const dir = await mkdtemp(join(tmpdir(), 'tvm-overview-'));
  rich = join(dir, 'rich.yaml');
  await writeFile(rich, richText);
});

const sha256 = (text: string) =>
  createHash('sha256').update(text, 'utf8').digest('hex');

/** Runs `tvm policy explain ...args`; asserts it succeeded and printed nothing else. */
async function explain(...args: string[]): Promise<string> {
  const r = await tvm(env, 'policy', 'explain', ...args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (const k of [KEY_A, KEY_B, KEY_OFF, KEY_RETIRED]) {
    // Not even a recognisable part of a key's hash.
    assert.ok(!r.stdout.includes(k.slice(0, 12)), 'an API key hash is printed');
  }
  return r.stdout;
}

/** Renders DOT with Graphviz; fails (not skips) when `dot` is missing. */
function render(dot: string): string {
  const r = spawnSync('dot', ['-Tsvg'], {input: dot, encoding: 'utf8'});
  assert.equal(r.error, undefined, 'Graphviz (dot) is not installed');
  assert.equal(r.status, 0, r.stderr);
  // Graphviz reports a syntax problem as a warning and draws what it could read.
  assert.equal(r.stderr, '', 'dot complained');
  return r.stdout;
}

function unxml(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** What an SVG drawing of Graphviz holds: node and edge names, and every text line. */
function drawing(svg: string) {
  const titles = (cls: string) =>
    [
      ...svg.matchAll(
        new RegExp(
          `<g id="[^"]+" class="${cls}">\\s*<title>([^<]*)</title>`,
          'g',
        ),
      ),
    ].map(m => unxml(m[1]!));
  return {
    nodes: titles('node').sort(),
    edges: titles('edge').sort(),
    texts: [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(m =>
      unxml(m[1]!),
    ),
  };
}

/**
 * Reads the clients table back by its columns: each cell must sit under its header
 * (a column that is not aligned leaves a cell that does not start at the header's
 * column, or a gap of no space before it). Returns, per client, the cells' lines.
 */
function readClientTable(out: string): Map<string, string[][]> {
  const lines = out.split('\n');
  const head = lines.findIndex(l => l.startsWith('CLIENT '));
  assert.ok(head > 0, 'a header line');
  const names = [
    'CLIENT',
    'AUTHENTICATES WITH',
    'SERVICE ACCOUNT',
    'SCOPES',
    'MAX LIFETIME',
  ];
  const starts = names.map(n => lines[head]!.indexOf(n));
  assert.deepEqual(
    names.map((n, i) => lines[head]!.slice(starts[i], starts[i]! + n.length)),
    names,
  );
  for (const [i, s] of starts.entries()) {
    if (i > 0) assert.ok(s > starts[i - 1]!, 'headers in order');
  }
  const clients = new Map<string, string[][]>();
  let current: string[][] | undefined;
  for (const line of lines.slice(head + 1)) {
    if (line.startsWith('SERVICE ACCOUNT ')) break;
    if (line === '') continue;
    const cells = starts.map((s, i) => {
      if (s > 0 && line.length > s) {
        assert.equal(line[s - 1], ' ', `a cell starts at column ${s}: ${line}`);
      }
      return line.slice(s, starts[i + 1] ?? line.length).trimEnd();
    });
    if (cells[0] !== '') {
      current = names.map(() => []);
      clients.set(cells[0]!, current);
    }
    assert.ok(current, 'a row starts with its client');
    cells.forEach((c, i) => current![i]!.push(c));
  }
  return clients;
}

void describe('tvm policy explain FILE: the whole policy', () => {
  void test('the demo policy as a table (the default format)', async () => {
    const digest = sha256(readFileSync(DEMO, 'utf8')).slice(0, 12);
    assert.equal(
      await explain(DEMO),
      [
        `policy: ${DEMO} (digest ${digest})`,
        '',
        'CLIENT  AUTHENTICATES WITH  SERVICE ACCOUNT  SCOPES                                                MAX LIFETIME',
        '',
        'demo    api keys: 1         reporting        bigquery.readonly                                     15m',
        '                                             devstorage.read_only',
        '                                             ID token: https://reports-demo-uc.a.run.app (+email)',
        '                            legacy-etl       cloud-platform (default)                              1h',
        '',
        'SERVICE ACCOUNT  EMAIL                                         MINT         IAM CEILING  CLIENTS  KEY SECRET',
        'reporting        reporting@tvm-local.iam.gserviceaccount.com   impersonate  1h           demo',
        'legacy-etl       legacy-etl@tvm-local.iam.gserviceaccount.com  key          1h           demo     projects/tvm-local/secrets/etl-sa-key/versions/latest',
        '',
        '1 client, 2 service accounts. (default): used when a request names no scope.',
        "ID token: an audience the client may have ID tokens for (they live 1h; (+email): the account's email may be in them).",
        'As the service applies it: disabled clients and keys are left out, a disabled account is granted to no client.',
        '',
      ].join('\n'),
    );
    // --policy FILE says the same as FILE, and --format table is the default.
    assert.equal(
      await explain('--policy', DEMO, '--format', 'table'),
      await explain(DEMO),
    );
  });

  void test('a richer policy as a table: every way to authenticate, aligned, no key hash', async () => {
    const out = await explain(rich, '--format', 'table');
    assert.match(
      out,
      new RegExp(
        `^policy: ${rich} \\(digest ${sha256(richText).slice(0, 12)}\\)\n`,
      ),
    );
    const t = readClientTable(out);
    // The disabled client is not there; the others in document order.
    assert.deepEqual(
      [...t.keys()],
      ['nightly', 'gha-main', 'gha-release', 'cluster', 'partner'],
    );
    const [, nAuth, nSa, nScopes, nLife] = t.get('nightly')!;
    // The disabled key is not counted; the expiring one is dated.
    assert.deepEqual(nAuth!.filter(Boolean), [
      'api keys: 2',
      '  one expires 2027-01-31',
      'from 10.0.0.0/8',
      'from 2001:db8::/32',
    ]);
    // The disabled account's grant is gone; each scope a line, beside its account.
    assert.deepEqual(nSa!.slice(0, 3), ['reporting', '', 'batch']);
    assert.deepEqual(nScopes!.slice(0, 3), [
      'bigquery.readonly (default)',
      'devstorage.read_only',
      'cloud-platform',
    ]);
    assert.deepEqual(nLife!.slice(0, 3), ['15m', '', '4h']);
    const [, rAuth, rSa, rScopes, rLife] = t.get('gha-release')!;
    assert.deepEqual(rAuth, [
      'oidc: https://token.actions.githubusercontent.com',
      '  aud "https://tvm.example.com/release"',
      '  sub pattern "repo:my-org/*:ref:refs/tags/*"',
      // Escaped as JSON escapes: the newline cannot start a forged line.
      `  repository_owner equals "${JSON.stringify(HOSTILE).slice(1, -1)}"`,
      "  keys: the issuer's discovery document",
    ]);
    assert.deepEqual(
      [rSa![0], rScopes![0], rLife![0]],
      ['etl', 'cloud-platform', '1h'],
    );
    const [, cAuth, , cScopes, cLife] = t.get('cluster')!;
    assert.equal(cAuth![3], '  keys: pinned in the policy (1)');
    assert.deepEqual(
      [cScopes![0], cLife![0]],
      ['cloud-platform.read-only', '1m30s'],
    );
    assert.deepEqual(t.get('partner')![1], [
      'private_key_jwt',
      '  keys: pinned in the policy (2)',
    ]);
    assert.match(
      out,
      /^batch +batch@my-proj\.iam\.gserviceaccount\.com +impersonate +12h \(lifetime_extension\) +nightly$/m,
    );
    assert.match(
      out,
      /^etl +etl@my-proj\.iam\.gserviceaccount\.com +key +1h +gha-release, partner +projects\/my-proj\/secrets\/etl-key\/versions\/3$/m,
    );
    assert.match(
      out,
      /^old +old@my-proj\.iam\.gserviceaccount\.com +impersonate +1h +\(none\)$/m,
    );
    assert.match(out, /^5 clients, 4 service accounts\./m);
    assert.doesNotMatch(out, /retired/);
  });

  void test('the same as a stable JSON document', async () => {
    const doc = JSON.parse(await explain(rich, '--format', 'json')) as unknown;
    const g = (scope: string) => `https://www.googleapis.com/auth/${scope}`;
    const account = (
      alias: string,
      granted_to: string[],
      extra: Record<string, unknown> = {},
    ) => ({
      alias,
      email: `${alias}@my-proj.iam.gserviceaccount.com`,
      mint: 'impersonate',
      key_secret: null,
      lifetime_extension: false,
      iam_max_lifetime_seconds: 3600,
      granted_to,
      ...extra,
    });
    const grant = (
      sa: string,
      scopes: string[],
      max: number,
      defaults: string[] | null = null,
    ) => ({
      service_account: sa,
      email: `${sa}@my-proj.iam.gserviceaccount.com`,
      scopes: scopes.map(g),
      default_scopes: defaults && defaults.map(g),
      max_lifetime_seconds: max,
      id_token: null,
      delegation: null,
      access_boundary: null,
    });
    const discovery = {source: 'discovery'};
    assert.deepEqual(doc, {
      tvm_policy_overview: 1,
      source: rich,
      digest: sha256(richText),
      service_accounts: [
        account('reporting', ['nightly', 'gha-main', 'cluster']),
        account('batch', ['nightly'], {
          lifetime_extension: true,
          iam_max_lifetime_seconds: 43200,
        }),
        account('etl', ['gha-release', 'partner'], {
          mint: 'key',
          key_secret: 'projects/my-proj/secrets/etl-key/versions/3',
        }),
        account('old', []),
      ],
      clients: [
        {
          id: 'nightly',
          description: HOSTILE,
          authentication: [
            {
              method: 'api_key',
              keys: 2,
              expires: ['2027-01-31T00:00:00.000Z'],
            },
          ],
          source_ranges: ['10.0.0.0/8', '2001:db8::/32'],
          grants: [
            grant(
              'reporting',
              ['bigquery.readonly', 'devstorage.read_only'],
              900,
              ['bigquery.readonly'],
            ),
            grant('batch', ['cloud-platform'], 14400),
          ],
        },
        {
          id: 'gha-main',
          description: null,
          authentication: [
            {
              method: 'oidc',
              issuer: 'https://token.actions.githubusercontent.com',
              audiences: ['https://tvm.example.com'],
              claims: [
                {claim: 'sub', pattern: 'repo:my-org/*:ref:refs/heads/main'},
              ],
              keys: discovery,
              algorithms: ['RS256', 'ES256'],
            },
          ],
          source_ranges: [],
          grants: [grant('reporting', ['bigquery.readonly'], 600)],
        },
        {
          id: 'gha-release',
          description: null,
          authentication: [
            {
              method: 'oidc',
              issuer: 'https://token.actions.githubusercontent.com',
              audiences: ['https://tvm.example.com/release'],
              claims: [
                {claim: 'sub', pattern: 'repo:my-org/*:ref:refs/tags/*'},
                {claim: 'repository_owner', equals: HOSTILE},
              ],
              keys: discovery,
              algorithms: ['RS256', 'ES256'],
            },
          ],
          source_ranges: [],
          grants: [grant('etl', ['cloud-platform'], 3600)],
        },
        {
          id: 'cluster',
          description: null,
          authentication: [
            {
              method: 'oidc',
              issuer: 'https://cluster.example.com',
              audiences: [HOSTILE, LONG],
              claims: [
                {claim: 'sub', equals: 'system:serviceaccount:jobs:export'},
              ],
              keys: {source: 'pinned', keys: 1},
              algorithms: ['RS256', 'ES256'],
            },
          ],
          source_ranges: [],
          grants: [grant('reporting', ['cloud-platform.read-only'], 90)],
        },
        {
          id: 'partner',
          description: null,
          authentication: [
            {
              method: 'private_key_jwt',
              keys: {source: 'pinned', keys: 2},
              algorithms: ['RS256', 'ES256'],
            },
          ],
          source_ranges: [],
          grants: [grant('etl', ['cloud-platform'], 3600)],
        },
      ],
    });
  });

  void test('as DOT that Graphviz draws: who may become whom, policy text escaped', async () => {
    const dot = await explain(rich, '--format', 'dot');
    assert.match(dot, /^digraph "tvm policy" \{\n/);
    const d = drawing(render(dot));
    // Exactly these nodes and edges: the hostile text made none of its own.
    assert.deepEqual(d.nodes, [
      'client:cluster',
      'client:gha-main',
      'client:gha-release',
      'client:nightly',
      'client:partner',
      'issuer:https://cluster.example.com',
      'issuer:https://token.actions.githubusercontent.com',
      'sa:batch',
      'sa:etl',
      'sa:old',
      'sa:reporting',
    ]);
    assert.deepEqual(d.edges, [
      'client:cluster->sa:reporting',
      'client:gha-main->sa:reporting',
      'client:gha-release->sa:etl',
      'client:nightly->sa:batch',
      'client:nightly->sa:reporting',
      'client:partner->sa:etl',
      'issuer:https://cluster.example.com->client:cluster',
      'issuer:https://token.actions.githubusercontent.com->client:gha-main',
      'issuer:https://token.actions.githubusercontent.com->client:gha-release',
    ]);
    // The hostile text is drawn as it is written (its newline shown as \u000a),
    // with Graphviz's escapes (\N) and entities (&amp;) left uninterpreted.
    const shownHostile = HOSTILE.replace('\n', '\\u000a');
    assert.ok(
      d.texts.includes(`repository_owner = ${shownHostile}`),
      d.texts.join('\n'),
    );
    // A long line is cut at 80 characters, whole characters only.
    assert.ok(
      d.texts.includes(
        `${[...`aud ${shownHostile}, ${LONG}`].slice(0, 77).join('')}...`,
      ),
    );
    for (const line of [
      'client nightly',
      'api keys (2)',
      'client partner',
      'private_key_jwt',
      'OIDC issuer',
      'https://token.actions.githubusercontent.com',
      'sub ~ repo:my-org/*:ref:refs/heads/main',
      'bigquery.readonly (default)',
      'devstorage.read_only',
      'up to 15m',
      'up to 4h',
      'up to 1m30s',
      'etl@my-proj.iam.gserviceaccount.com',
      'mint key',
    ]) {
      assert.ok(d.texts.includes(line), `the drawing shows "${line}"`);
    }
    assert.ok(!d.texts.some(t => t.includes('retired')));
  });

  void test('one client: --client without --audience narrows the overview', async () => {
    const out = await explain(rich, '--client', 'gha-release');
    assert.deepEqual([...readClientTable(out).keys()], ['gha-release']);
    assert.match(out, /^1 client, 1 service account\./m);
    const doc = JSON.parse(
      await explain(rich, '--client', 'partner', '--format', 'json'),
    ) as {clients: {id: string}[]; service_accounts: {alias: string}[]};
    assert.deepEqual(
      doc.clients.map(c => c.id),
      ['partner'],
    );
    assert.deepEqual(
      doc.service_accounts.map(s => s.alias),
      ['etl'],
    );
    const d = drawing(
      render(await explain(rich, '--client', 'nightly', '--format', 'dot')),
    );
    assert.deepEqual(d.nodes, ['client:nightly', 'sa:batch', 'sa:reporting']);
  });

  void test('the emergency ceiling and the kill switch: shown as the service applies them', async () => {
    const file = join(env.HOME!, 'ceiling.yaml');
    await writeFile(
      file,
      richText.replace('version: 1', 'version: 1\nemergency_max_lifetime: 5m'),
    );
    const doc = JSON.parse(await explain(file, '--format', 'json')) as {
      clients: {
        id: string;
        grants: {service_account: string; max_lifetime_seconds: number}[];
      }[];
    };
    // Every grant cut to 5m; the key-minted account's (always 1h) no longer honoured.
    assert.deepEqual(
      doc.clients.map(c => [
        c.id,
        c.grants.map(g => `${g.service_account} ${g.max_lifetime_seconds}`),
      ]),
      [
        ['nightly', ['reporting 300', 'batch 300']],
        ['gha-main', ['reporting 300']],
        ['gha-release', []],
        ['cluster', ['reporting 90']],
        ['partner', []],
      ],
    );
    const t = readClientTable(await explain(file));
    assert.equal(t.get('partner')![2]![0], '(none in force)');
  });

  void test('refusals: an unknown client, a wrong format, a format with a question', async () => {
    const run = (...args: string[]) => tvm(env, 'policy', 'explain', ...args);
    const unknown = await run(rich, '--client', 'nigthly');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.equal(
      unknown.stderr,
      `tvm policy explain: no client "nigthly" in ${rich} (did you mean "nightly"?)\n`,
    );
    const format = await run(rich, '--format', 'svg');
    assert.equal(format.code, 2);
    assert.equal(
      format.stderr,
      'tvm policy explain: --format is one of table, json, dot\n',
    );
    const asked = await run(
      rich,
      '--format',
      'json',
      '--client',
      'nightly',
      '--audience',
      'reporting',
    );
    assert.equal(asked.code, 2);
    assert.match(
      asked.stderr,
      /--format draws the policy \(leave out --audience\)/,
    );
    for (const args of [[], [rich, '--policy', rich], [rich, rich]]) {
      const r = await run(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^usage: tvm policy explain /);
    }
    const missing = await run(join(env.HOME!, 'no-such.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^tvm: cannot read .*no-such\.yaml\n$/);
    const bad = join(env.HOME!, 'bad.yaml');
    await writeFile(bad, 'version: 2\n');
    const invalid = await run(bad, '--format', 'dot');
    assert.equal(invalid.code, 1);
    assert.equal(invalid.stdout, '');
    assert.match(invalid.stderr, /^version: must be 1\n/m);
  });
});

void describe("the README's picture of the demo policy", () => {
  const dotFile = join(ROOT, 'docs', 'demo-policy.dot');
  const svgFile = join(ROOT, 'docs', 'demo-policy.svg');

  void test('docs/demo-policy.dot is what tvm draws for policy/demo.yaml now (node scripts/policy-picture.ts)', async () => {
    assert.equal(
      readFileSync(dotFile, 'utf8'),
      await explain(DEMO, '--format', 'dot'),
    );
  });

  void test('docs/demo-policy.svg is drawn from docs/demo-policy.dot, and the README shows it', () => {
    const committed = drawing(readFileSync(svgFile, 'utf8'));
    const fresh = drawing(render(readFileSync(dotFile, 'utf8')));
    // The same nodes, edges and words; coordinates may differ between Graphviz versions.
    assert.deepEqual(committed, fresh);
    assert.ok(committed.nodes.includes('client:demo'));
    assert.ok(committed.edges.includes('client:demo->sa:reporting'));
    assert.match(
      readFileSync(join(ROOT, 'README.md'), 'utf8'),
      /!\[[^\]]+\]\(docs\/demo-policy\.svg\)/,
    );
  });
});
