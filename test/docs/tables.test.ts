/**
 * The docs' tables render: in GitHub-flavoured Markdown every row of a table has the
 * header's number of cells, the second line is the delimiter row, and a `|` inside a
 * cell (even inside a code span) must be escaped as `\|` or it splits the cell.
 */
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {test} from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

function markdown(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), {withFileTypes: true})) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...markdown(rel));
    else if (e.name.endsWith('.md')) out.push(rel);
  }
  return out;
}

/** The cells of a table row, split on unescaped pipes. */
function cells(row: string): number {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).length;
}

void test('every table of the docs has rows as wide as its header', () => {
  const docs = [
    'README.md',
    'emulator/README.md',
    ...markdown('docs'),
    ...markdown('terraform').filter(f => !f.includes('/.terraform/')),
  ];
  const broken: string[] = [];
  let tables = 0;
  for (const doc of docs) {
    const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
    let fenced = false;
    for (let i = 0; i < lines.length; i++) {
      if (/^\s*```/.test(lines[i]!)) fenced = !fenced;
      if (fenced) continue;
      const header = lines[i]!;
      const delimiter = lines[i + 1] ?? '';
      if (!header.trim().startsWith('|')) continue;
      if (
        !/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(delimiter)
      ) {
        continue;
      }
      tables++;
      const width = cells(header);
      if (cells(delimiter) !== width)
        broken.push(`${doc}:${i + 2}: delimiter row`);
      let j = i + 2;
      for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) {
        if (cells(lines[j]!) !== width)
          broken.push(
            `${doc}:${j + 1}: ${cells(lines[j]!)} cells, header has ${width}`,
          );
      }
      i = j - 1;
    }
  }
  assert.ok(tables >= 10, `${tables} tables: the scan reads the docs`);
  assert.deepEqual(broken, []);
});
