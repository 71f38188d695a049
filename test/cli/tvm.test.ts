/**
 * `tvm` as a user runs it: the real bin/tvm.js in a child process, with the Node.js
 * running this test first on PATH.
 */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {createHash} from 'node:crypto';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'tvm.js');
const KEY_RE = /^tvm_[A-Za-z0-9_-]{43}$/m;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tvm ...args` and resolves to its exit code and output. */
function tvm(...args: string[]): Promise<Run> {
  return new Promise(resolve => {
    execFile(
      BIN,
      args,
      {
        cwd: ROOT,
        env: {
          ...process.env,
          PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code =
          error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({code, stdout, stderr});
      },
    );
  });
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

void describe('tvm keygen', () => {
  void test('prints a key once and the sha256 line that matches it', async () => {
    const r = await tvm('keygen');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const key = KEY_RE.exec(r.stdout)?.[0];
    assert.ok(key, r.stdout);
    assert.equal(
      r.stdout.split(key).length,
      2,
      'the key is printed exactly once',
    );
    assert.match(r.stdout, /shown only this once/);
    const line = /^- sha256: ([0-9a-f]{64})$/m.exec(r.stdout);
    assert.ok(line, r.stdout);
    assert.equal(line[1], sha256Hex(key));
  });

  void test('two runs make two different keys', async () => {
    const [a, b] = await Promise.all([tvm('keygen'), tvm('keygen')]);
    assert.notEqual(KEY_RE.exec(a.stdout)?.[0], KEY_RE.exec(b.stdout)?.[0]);
  });

  void test('--client and --expires give a snippet that a policy accepts', async () => {
    const r = await tvm(
      'keygen',
      '--client',
      'nightly-export',
      '--expires',
      '2999-06-30',
    );
    assert.equal(r.code, 0, r.stderr);
    const key = KEY_RE.exec(r.stdout)?.[0] ?? '';
    const snippet = r.stdout.slice(r.stdout.indexOf('clients:'));
    assert.equal(
      snippet,
      [
        'clients:',
        '  nightly-export:',
        '    api_keys:',
        `      - sha256: ${sha256Hex(key)}`,
        '        expires: 2999-06-30',
        '',
      ].join('\n'),
    );
    // Paste the snippet into a policy and check it with tvm itself.
    const dir = await mkdtemp(join(tmpdir(), 'tvm-cli-'));
    try {
      const file = join(dir, 'policy.yaml');
      await writeFile(
        file,
        [
          'version: 1',
          'service_accounts:',
          '  reporting: {email: reporting@p.iam.gserviceaccount.com}',
          snippet.trimEnd(),
          '    allow: [{service_account: reporting, scopes: [bigquery.readonly]}]',
          '',
        ].join('\n'),
      );
      const check = await tvm('policy', 'check', file);
      assert.equal(check.code, 0, check.stderr);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  const refused: Array<{name: string; input: string[]; want: RegExp}> = [
    {
      name: 'bad expiry',
      input: ['keygen', '--expires', 'tomorrow'],
      want: /--expires/,
    },
    {
      name: 'past expiry',
      input: ['keygen', '--expires', '2001-01-01'],
      want: /already past/,
    },
    {
      name: 'bad client id',
      input: ['keygen', '--client', 'a b'],
      want: /--client/,
    },
    {
      name: 'unknown option',
      input: ['keygen', '--bits', '512'],
      want: /Unknown option/,
    },
  ];
  for (const {name, input, want} of refused) {
    void test(`refuses ${name}: exit 2, no key printed`, async () => {
      const r = await tvm(...input);
      assert.equal(r.code, 2);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stdout, /tvm_/);
    });
  }
});

void describe('tvm policy check', () => {
  void test('the demo policy: exit 0 and a one-line summary', async () => {
    const r = await tvm('policy', 'check', 'policy/demo.yaml');
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^OK policy\/demo\.yaml: 1 client, 2 service accounts, digest [0-9a-f]{12}\n$/,
    );
    assert.equal(r.stderr, '');
  });

  void test('a bad policy: exit 1 and every problem with its path on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvm-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(
        file,
        [
          'version: 2',
          'service_accounts:',
          '  etl: {email: etl@p.iam.gserviceaccount.com, mint: key}',
          'clients:',
          '  nightly-export:',
          `    api_keys: [{sha256: "${'a'.repeat(64)}"}]`,
          '    allow:',
          '      - {service_account: etl, scopes: [cloud-platform, "no spaces"], max_lifetime: 15m}',
          '',
        ].join('\n'),
      );
      const r = await tvm('policy', 'check', file);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      const paths = lines.slice(0, -1).map(l => l.slice(0, l.indexOf(': ')));
      assert.deepEqual(paths, [
        'version',
        'clients.nightly-export.allow[0].scopes[1]',
      ]);
      assert.match(lines.at(-1) ?? '', /not a valid policy \(2 problems\)/);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  void test('compile-time problems are reported too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tvm-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      await writeFile(
        file,
        [
          'version: 1',
          'service_accounts:',
          '  etl: {email: etl@p.iam.gserviceaccount.com, mint: key}',
          'clients:',
          '  nightly-export:',
          `    api_keys: [{sha256: "${'a'.repeat(64)}"}]`,
          '    allow:',
          '      - {service_account: etl, scopes: [cloud-platform], max_lifetime: 15m}',
          '',
        ].join('\n'),
      );
      const r = await tvm('policy', 'check', file);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^service_accounts\.etl\.key_secret: required/m);
      assert.match(
        r.stderr,
        /^clients\.nightly-export\.allow\[0\]\.max_lifetime: /m,
      );
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  void test('a missing file: exit 2 with a clear message', async () => {
    const r = await tvm('policy', 'check', 'no/such/policy.yaml');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read no\/such\/policy\.yaml: no such file/);
  });

  void test('no file named: exit 2 with usage', async () => {
    const r = await tvm('policy', 'check');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: tvm policy check FILE/);
  });
});

void describe('tvm usage', () => {
  const cases: Array<{
    name: string;
    input: string[];
    want: {code: number; out: 'stdout' | 'stderr'; text: RegExp};
  }> = [
    {
      name: 'help',
      input: ['help'],
      want: {code: 0, out: 'stdout', text: /usage: tvm <command>/},
    },
    {
      name: '--help',
      input: ['--help'],
      want: {code: 0, out: 'stdout', text: /policy check FILE/},
    },
    {
      name: 'command --help',
      input: ['keygen', '--help'],
      want: {code: 0, out: 'stdout', text: /usage: tvm keygen \[--client ID\]/},
    },
    {
      name: 'no command',
      input: [],
      want: {code: 2, out: 'stderr', text: /usage: tvm <command>/},
    },
    {
      name: 'unknown command',
      input: ['mint'],
      want: {
        code: 2,
        out: 'stderr',
        text: /unknown command "mint"[\s\S]*usage:/,
      },
    },
    {
      name: 'group without subcommand',
      input: ['policy'],
      want: {code: 2, out: 'stderr', text: /"policy" needs a subcommand/},
    },
    {
      name: 'unknown subcommand',
      input: ['policy', 'lint'],
      want: {code: 2, out: 'stderr', text: /needs a subcommand/},
    },
  ];
  for (const {name, input, want} of cases) {
    void test(name, async () => {
      const r = await tvm(...input);
      assert.equal(r.code, want.code);
      assert.match(r[want.out], want.text);
    });
  }
});
