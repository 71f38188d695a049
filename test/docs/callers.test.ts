/**
 * The caller pages run as written: every ```sh and ```python block of each page in
 * docs/callers that carries the marker below is run, in order, against local mode
 * (the demo policy, tvm and the Google emulator, as `npm start` serves them), by a
 * user with a fresh HOME. A block fenced ```sh norun must follow a paragraph starting
 * "**Not run here:**" that says why; a block fenced ```sh requires=TOOL fails where
 * TOOL is not installed (never a skip counted as a pass).
 *
 * The blocks get what `npm start` prints: TVM_URL, TVM_KEY (the demo API key) and
 * TVM_EMULATOR. No block may print a token or the key.
 */

import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, readFileSync, readdirSync} from 'node:fs';
import {mkdir, mkdtemp, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {
  assertNoSecretsLogged,
  newKey,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {BIN, ROOT, assertNoSecret} from '../cli/run-tvm.ts';

export const MARKER = '<!-- run by test/docs/callers.test.ts -->';
const DIR = join(ROOT, 'docs', 'callers');
const key = newKey();
let s: Stack;
let binDir: string;

interface Block {
  readonly lang: 'sh' | 'python';
  readonly mode: 'run' | 'norun' | {requires: string};
  readonly code: string;
  readonly line: number;
  /** The paragraph before the block. */
  readonly before: string;
}

/** The fenced sh and python blocks of a page. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(sh|python)(?: (norun|requires=([\w.-]+)))?\s*$/.exec(
      lines[i]!,
    );
    if (!open) {
      if (/^```\w/.test(lines[i]!)) {
        // Skip other fences whole, so their contents are not read as fences.
        const end = lines.indexOf('```', i + 1);
        i = end < 0 ? lines.length : end;
      }
      continue;
    }
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `unclosed block at line ${i + 1}`);
    let p = i - 1;
    while (p >= 0 && lines[p]!.trim() === '') p--;
    let start = p;
    while (start > 0 && lines[start - 1]!.trim() !== '') start--;
    out.push({
      lang: open[1] as 'sh' | 'python',
      mode: open[3] ? {requires: open[3]} : open[2] ? 'norun' : 'run',
      code: lines.slice(i + 1, end).join('\n'),
      line: i + 1,
      before: lines.slice(start, p + 1).join('\n'),
    });
    i = end;
  }
  return out;
}

const pages = readdirSync(DIR)
  .filter(f => f.endsWith('.md'))
  .filter(f => readFileSync(join(DIR, f), 'utf8').includes(MARKER))
  .sort();

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

before(async () => {
  const demo = readFileSync(join(ROOT, 'policy', 'demo.yaml'), 'utf8');
  const policy = demo.replace(
    /"0{64}"\s*# replaced by npm start/,
    '"{{KEY:demo}}"',
  );
  assert.notEqual(policy, demo, 'the demo policy has its placeholder');
  s = await startStack({
    policy,
    keys: {demo: key},
    env: {TVM_RATE_LIMIT_PER_IP: '100000'},
  });
  // `tvm` and Debian's python3 (with python3-requests) first on PATH.
  binDir = await mkdtemp(join(tmpdir(), 'tvm-docs-bin-'));
  await writeFile(
    join(binDir, 'tvm'),
    `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`,
    {mode: 0o755},
  );
  if (existsSync('/usr/bin/python3')) {
    await symlink('/usr/bin/python3', join(binDir, 'python3'));
  }
});

after(async () => {
  await s.close();
  assertNoSecretsLogged([key]);
});

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  input: string,
): Promise<{code: number | null; out: string}> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, {
      cwd: env.HOME,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', code => resolve({code, out}));
    child.stdin.end(input);
  });
}

void describe('docs/callers pages run as written', () => {
  void test('there are pages to run', () => {
    assert.ok(pages.length >= 6, pages.join(', '));
  });

  for (const page of pages) {
    void describe(page, () => {
      const text = readFileSync(join(DIR, page), 'utf8');
      const all = blocks(text);
      let env: Record<string, string>;

      before(async () => {
        const home = await mkdtemp(join(tmpdir(), 'tvm-docs-home-'));
        await mkdir(join(home, '.config'), {recursive: true});
        env = {
          HOME: home,
          USER: process.env.USER ?? 'user',
          PATH: `${binDir}:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
          LANG: 'C.UTF-8',
          NODE_PATH: join(ROOT, 'node_modules'),
          TVM_URL: s.url,
          TVM_KEY: key,
          TVM_EMULATOR: s.emulator.url,
        };
      });

      void test('has blocks, and says why of each one it does not run', () => {
        assert.ok(
          all.some(b => b.mode === 'run'),
          'at least one block runs',
        );
        for (const b of all) {
          if (b.mode === 'norun') {
            assert.match(
              b.before,
              /^\*\*Not run here:\*\* \S/m,
              `${page}:${b.line}: say why it is not run`,
            );
          }
        }
      });

      for (const b of all) {
        if (b.mode === 'norun') continue;
        const name = `${b.lang} block at line ${b.line}`;
        void test(name, async () => {
          // A block that needs a tool is run, or it is marked norun with a reason:
          // never skipped and counted as passing.
          if (typeof b.mode === 'object') {
            assert.ok(
              onPath(b.mode.requires),
              `${page}:${b.line}: needs ${b.mode.requires}, which is not installed: install it in .ci/run, or mark the block norun and say why`,
            );
          }
          const r =
            b.lang === 'sh'
              ? await run('bash', ['-euo', 'pipefail', '-s'], env, b.code)
              : await run('python3', ['-'], env, b.code);
          assert.equal(r.code, 0, `${page}:${b.line} failed:\n${r.out}`);
          assertNoSecret(r.out, [key], `${page}:${b.line}`);
        });
      }
    });
  }
});
