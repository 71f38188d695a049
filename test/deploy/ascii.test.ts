/**
 * scripts/build/ascii.ts: the bundle written in ASCII, with the same behaviour.
 */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'node:test';
import {runInNewContext} from 'node:vm';
import {toAscii} from '../../scripts/build/ascii.ts';

const built = join(import.meta.dirname, '../../build/src');

/** What a script leaves in its `result`, as JSON. */
function run(code: string): string {
  const context: {result?: unknown} = {};
  runInNewContext(code, context);
  return JSON.stringify(context.result);
}

void test('toAscii: the same values, in ASCII', () => {
  const source = `// § comment — kept as a comment
/* ✓ block */
result = {
  s: "§é—✓😀",
  t: \`x§\${1 + 1}😀\`,
  r: /[é😀]/.test("😀"),
  ru: /^😀$/u.test("😀"),
  n: /é+/.exec("éé")[0],
};`;
  const ascii = toAscii(source);
  assert.doesNotMatch(ascii, /[\u0080-\uffff]/);
  assert.equal(run(ascii), run(source));
  assert.equal(
    run(source),
    JSON.stringify({
      s: '§é—✓😀',
      t: 'x§2😀',
      r: true,
      ru: true,
      n: 'éé',
    }),
  );
});

void test('the built entry and bundle are ASCII', () => {
  for (const name of ['index.mjs', 'tvm.cjs']) {
    const code = readFileSync(join(built, name), 'utf8');
    assert.ok(code.length > 1000, name);
    assert.doesNotMatch(code, /[\u0080-\uffff]/, `${name} is ASCII`);
  }
});
