/**
 * scripts/build/eager.ts: esbuild's module wrappers rewritten into parenthesised
 * functions (compiled with their file, so the compile cache holds them), with the
 * same behaviour; and a shape it does not know stops the build.
 */
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'node:test';
import {runInNewContext} from 'node:vm';
import {compileWrappersEagerly, toAscii} from '../../scripts/build/eager.ts';

const built = join(import.meta.dirname, '../../build/src');

// What esbuild prints for a CommonJS module and for a lazily initialised ES module.
const SAMPLE = `var __commonJS = (cb, mod) => function __require() {
  return mod || (0, cb[Object.getOwnPropertyNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
};
var __esm = (fn, res) => function __init() {
  return fn && (res = (0, fn[Object.getOwnPropertyNames(fn)[0]])(fn = 0)), res;
};

// node_modules/a/index.js
var require_a = __commonJS({
  "node_modules/a/index.js"(exports, module) {
    "use strict";
    const text = \`multi
  line\`;
    module.exports = {text, self: typeof this, args: arguments.length};
  }
});

// src/b.js
var b;
var init_b = __esm({
  "src/b.js"() {
    b = 42;
  }
});
init_b();
result = {a: require_a(), b};
`;

/** What a script leaves in its `result`, as JSON. */
function run(code: string): string {
  const context: {result?: unknown} = {};
  runInNewContext(code, context);
  return JSON.stringify(context.result);
}

void test('rewrites each wrapper, and the code does what it did', () => {
  const {code, wrappers} = compileWrappersEagerly(SAMPLE);
  assert.equal(wrappers, 2);
  assert.match(
    code,
    /"node_modules\/a\/index\.js": \(function\(exports, module\) \{\n/,
  );
  assert.match(
    code,
    /"src\/b\.js": \(function\(\) \{\n {4}b = 42;\n {2}\}\)\n\}\);/,
  );
  assert.equal(run(code), run(SAMPLE));
  assert.equal(
    run(code),
    JSON.stringify({
      a: {text: 'multi\n  line', self: 'undefined', args: 2},
      b: 42,
    }),
  );
});

void test('stops on a wrapper it cannot rewrite', () => {
  const odd = SAMPLE.replace(
    '  }\n});\n\n// src/b.js',
    '  } });\n\n// src/b.js',
  );
  assert.throws(
    () => compileWrappersEagerly(odd),
    /2 module wrappers opened, 1 rewritten/,
  );
});

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

void test('the built bundle is ASCII, with no wrapper left to compile lazily', () => {
  const files = [
    join(built, 'main.mjs'),
    ...readdirSync(join(built, 'chunks')).map(n => join(built, 'chunks', n)),
  ];
  let eager = 0;
  for (const file of files) {
    const code = readFileSync(file, 'utf8');
    assert.doesNotMatch(code, /[\u0080-\uffff]/, `${file} is ASCII`);
    assert.doesNotMatch(
      code,
      /= __(?:commonJS|esm)\(\{\n {2}"[^"\n]+"\(/,
      file,
    );
    eager +=
      code.match(/= __(?:commonJS|esm)\(\{\n {2}"[^"\n]+": \(function\(/g)
        ?.length ?? 0;
  }
  assert.ok(eager > 100, `${eager} wrappers`);
});
