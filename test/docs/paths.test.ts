/**
 * The docs tell the truth about the tree: every file of this repository that the
 * README, docs/ or emulator/README.md names (`src/...`, `test/...`, `scripts/...`,
 * ...) exists, so a newcomer who follows a pointer finds the file.
 */
import assert from 'node:assert/strict';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {test} from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

/** A repository path: a top folder of the project, then a file with its extension. */
const PATH =
  /\b((?:src|test|emulator|scripts|bench|terraform|docs|bin)\/[A-Za-z0-9_./-]+\.(?:ts|js|md|tf|yaml|json|sh))(?![A-Za-z0-9_])/g;

function markdownFiles(): string[] {
  const out = ['README.md', 'emulator/README.md'];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), {withFileTypes: true})) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

void test('every repository path the docs name exists', () => {
  const missing: string[] = [];
  const files = markdownFiles();
  let seen = 0;
  for (const doc of files) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(PATH)) {
      seen++;
      const path = m[1]!;
      // A path may be written relative to the docs folder (`docs/...` from README,
      // or a sibling page).
      if (
        !existsSync(join(ROOT, path)) &&
        !existsSync(join(ROOT, 'docs', path))
      )
        missing.push(`${doc}: ${path}`);
    }
  }
  assert.ok(
    seen > 20,
    `the scan found ${seen} paths: the pattern reads the docs`,
  );
  assert.deepEqual(missing, []);
});
