/**
 * The docs quote only what the code says: every phrase of three words or more that
 * README.md, docs/ or emulator/README.md puts in double quotes (an error message, a
 * log message, a test's name) is found in the source of tvm, of the emulator or of the
 * tests. Placeholders (`<name>`, `…`) and values in single quotes stand for what the
 * code fills in; the fixed text around them must be there word for word.
 */
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {test} from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), {withFileTypes: true})) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...files(rel, ext));
    else if (e.name.endsWith(ext)) out.push(rel);
  }
  return out;
}

const DOCS = ['README.md', 'emulator/README.md', ...files('docs', '.md')];
const SOURCE = [
  ...files('src', '.ts'),
  ...files('emulator/src', '.ts'),
  ...files('test', '.ts'),
]
  .map(f => readFileSync(join(ROOT, f), 'utf8'))
  .join('\n');

/** A double-quoted phrase of three words or more, on one line. */
const QUOTED = /"([^"\n]*[A-Za-z]+ [A-Za-z]+ [A-Za-z]+[^"\n]*)"/g;
/** What stands for a filled-in value: `<...>`, an ellipsis, a single-quoted value. */
const PLACEHOLDER = /<[^>]*>|…|'[^']*'/;
/** String and template literals of the source. */
const LITERAL = /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g;

/**
 * Each template literal of the source as a pattern: its text word for word, each
 * `${...}` standing for any value; only templates with some fixed text of their own.
 */
const TEMPLATES: readonly string[] = [...SOURCE.matchAll(LITERAL)]
  .map(m => m[0].slice(1, -1).replace(/\\(['"`\\])/g, '$1'))
  .filter(t => t.includes('${'))
  .map(t => t.split(/\$\{[^}]*\}/))
  .filter(parts => parts.join('').trim().length >= 10)
  .map(parts =>
    parts.map(p => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+?'),
  );

/** The code says `phrase`: word for word, or as a template with values filled in. */
function said(phrase: string): boolean {
  // A quote cut short with `…` need only begin as the code's message does.
  const head = phrase.split('…')[0]!.trimEnd();
  if (SOURCE.includes(head)) return true;
  // The whole message, or (cut short) its beginning.
  const end = head === phrase ? '$' : '';
  if (TEMPLATES.some(t => new RegExp(`^${t}${end}`).test(head))) return true;
  // Else every fixed fragment between placeholders, word for word.
  const fragments = phrase
    .split(PLACEHOLDER)
    .map(f => f.trim())
    .filter(f => f.length >= 6);
  return fragments.length > 0 && fragments.every(f => SOURCE.includes(f));
}

void test('every message the docs quote is one the code has', () => {
  const missing: string[] = [];
  let checked = 0;
  for (const doc of DOCS) {
    // Prose only: fenced code blocks hold commands and programs, whose strings are
    // theirs, not messages of tvm's.
    const text = readFileSync(join(ROOT, doc), 'utf8').replace(
      /^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm,
      '',
    );
    for (const m of text.matchAll(QUOTED)) {
      const phrase = m[1]!;
      // A placeholder alone (`"<claims JSON as a string>"`) quotes no message.
      if (phrase.replace(new RegExp(PLACEHOLDER, 'g'), '').trim().length < 6)
        continue;
      checked++;
      if (!said(phrase)) missing.push(`${doc}: "${phrase}"`);
    }
  }
  assert.ok(
    checked >= 10,
    `${checked} quoted phrases: the scan reads the docs`,
  );
  assert.deepEqual(missing, []);
});
