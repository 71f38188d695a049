/**
 * src/load-bundle.ts on small bundles of its own: the file is the wrapped module the
 * build writes (wrapBundle), compiled as it is; its cache is taken and used by the
 * header's rules. The built bundle itself: test/deploy/bundle.test.ts and
 * code-cache.test.ts.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {loadBundle, wrapBundle, writeCodeCache} from '../src/load-bundle.ts';

const dir = mkdtempSync(join(tmpdir(), 'tvm-load-bundle-'));
let n = 0;
function bundle(code: string): string {
  const file = join(dir, `b${n++}.cjs`);
  writeFileSync(file, code);
  return file;
}

void test('a wrapped ASCII bundle runs as a CommonJS module, strict, with its cache taken and used', () => {
  const file = bundle(
    wrapBundle(
      "exports.name = require('node:path').basename(__filename);\n" +
        'exports.strict = (function () { return this === undefined; })();\n' +
        'exports.line = new Error("here").stack.split("\\n")[1];',
    ),
  );
  const first = loadBundle<{name: string; strict: boolean; line: string}>(
    file,
    join(dir, 'absent.v8'),
  );
  assert.equal(first.cache, 'absent');
  assert.equal(first.exports.name, 'b0.cjs');
  assert.equal(first.exports.strict, true);
  // Stack traces give the file's own lines: the wrapper is line 1, the code line 2 on.
  assert.match(first.exports.line, new RegExp('b0\\.cjs:4:'));

  const cacheFile = join(dir, 'b0.v8');
  assert.ok(writeCodeCache(cacheFile, first) > 0);
  const again = loadBundle<{name: string}>(file, cacheFile);
  assert.equal(again.cache, 'accepted');
  assert.equal(again.exports.name, 'b0.cjs');
});

void test('a bundle with other than ASCII is read as UTF-8', () => {
  const file = bundle(wrapBundle("exports.word = 'żółw ✓';"));
  assert.equal(
    loadBundle<{word: string}>(file, undefined).exports.word,
    'żółw ✓',
  );
});

void test('a file that is not a wrapped module is refused, saying which', () => {
  const file = bundle("exports.x = 1;\n'not a function';");
  assert.throws(
    () => loadBundle(file, undefined),
    new RegExp(
      `${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a bundle in its CommonJS wrapper`,
    ),
  );
});

void test('a wrapped module with a line after its wrapper still runs (the completion value is the module)', () => {
  const file = bundle(`${wrapBundle('exports.ok = true;')}\n// changed\n`);
  assert.equal(loadBundle<{ok: boolean}>(file, undefined).exports.ok, true);
});

void test('a wrapped file whose last value is not the module is refused, saying which', () => {
  const file = bundle(`${wrapBundle('exports.ok = true;')};\n42;\n`);
  assert.throws(
    () => loadBundle(file, undefined),
    (e: Error) =>
      e.message === `${file} is not a bundle in its CommonJS wrapper`,
  );
});
