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
import {compileWrappersEagerly} from '../../scripts/build/eager.ts';

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
  const run = (source: string) => {
    const context: {result?: unknown} = {};
    runInNewContext(source, context);
    return JSON.stringify(context.result);
  };
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

void test('the built bundle has no wrapper left to compile lazily', () => {
  const files = [
    join(built, 'main.mjs'),
    ...readdirSync(join(built, 'chunks')).map(n => join(built, 'chunks', n)),
  ];
  let eager = 0;
  for (const file of files) {
    const code = readFileSync(file, 'utf8');
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
