/**
 * The project stands alone: no file of the repository cites design notes kept outside
 * it, which a reader of the repository cannot open. What a maintainer needs lives in
 * the repository itself: the README, docs/security.md, docs/policy.md, emulator/README.md.
 *
 * The files are the ones git tracks; outside a git checkout (a source upload without
 * .git), every file under the root except dependencies and build output.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {join, relative, resolve} from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Citations of the outside notes. Written so that this file does not match them
 * itself: no pattern's source spells a citation out.
 */
const CITATIONS: readonly RegExp[] = [
  /\b(?:contract|threats|roadmap|house-style)\.md\b/,
  /\bgoogle-wir[e]/,
  /\bhouse[ ]+rules?\b/i,
];

/** Never scanned: dependencies, tool downloads, build output, local state. */
const SKIPPED_DIRS = new Set([
  '.git',
  'node_modules',
  '.tools',
  'build',
  'coverage',
  '.terraform',
  '.tvm-local',
]);

/** Repository-relative paths of the files to scan. */
function repositoryFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out
      .split('\0')
      .filter(p => p !== '' && !p.split('/').some(d => SKIPPED_DIRS.has(d)));
  } catch {
    return walk(ROOT);
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name))
        out.push(...walk(join(dir, entry.name)));
    } else if (entry.isFile()) {
      out.push(relative(ROOT, join(dir, entry.name)));
    }
  }
  return out;
}

/** `path:line: text` for every line of `files` that cites an outside note. */
function citations(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const path of files) {
    const full = join(ROOT, path);
    if (!existsSync(full)) continue; // deleted in the work tree, not yet committed
    const bytes = readFileSync(full);
    if (bytes.includes(0)) continue; // binary
    bytes
      .toString('utf8')
      .split('\n')
      .forEach((line, i) => {
        if (CITATIONS.some(p => p.test(line))) {
          found.push(`${path}:${i + 1}: ${line.trim().slice(0, 120)}`);
        }
      });
  }
  return found;
}

void describe('the project stands alone', () => {
  void test('the patterns recognise each kind of citation', () => {
    // Assembled at run time, for the same reason as the patterns.
    const samples = [
      `(${'contract'}.md)`,
      `see ${'threats'}.md, "Faults"`,
      `the way ${'google'}-wire.md describes`,
      `(${'house'} rule 9 allows it)`,
      `${'House'} rules that follow`,
    ];
    for (const s of samples) {
      assert.ok(
        CITATIONS.some(p => p.test(s)),
        `not recognised: ${s}`,
      );
    }
    for (const s of ['docs/security.md', 'the contract error rows', 'a rule']) {
      assert.ok(!CITATIONS.some(p => p.test(s)), `false positive: ${s}`);
    }
  });

  void test('no file cites design notes kept outside the repository', () => {
    const files = repositoryFiles();
    assert.ok(files.length > 50, `only ${files.length} files found`);
    assert.deepEqual(
      citations(files),
      [],
      'state the fact, or cite a file of this repository (docs/security.md, emulator/README.md, the README)',
    );
  });
});
