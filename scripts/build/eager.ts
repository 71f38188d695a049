/**
 * Makes V8 compile each bundled module's body when its file is compiled, so the
 * compile cache (compile-cache.ts) holds it.
 *
 * esbuild wraps every CommonJS module of the bundle, and every ES module it must
 * initialise lazily, in a method of an object literal:
 *
 *     var require_x = __commonJS({
 *       "node_modules/x/index.js"(exports, module) {
 *         ...
 *       }
 *     });
 *
 * V8 compiles such a function only when it is first called, and Node's compile cache
 * holds only what V8 compiled with the file: so every library's body was parsed and
 * compiled again at each cold start, as it was first required. A function in
 * parentheses is one V8 expects to be called soon and compiles with the file; this
 * rewrites each wrapper so:
 *
 *     var require_x = __commonJS({
 *       "node_modules/x/index.js": (function(exports, module) {
 *         ...
 *       })
 *     });
 *
 * The same call with the same `this`, arguments and body: only when V8 compiles it
 * changes. Functions inside a module's body are still compiled when first called.
 *
 * It relies on the shape esbuild prints (the wrapper's first line, its body indented
 * further, its closing lines `  }` and `});`) and checks it: every wrapper opened
 * must be rewritten, or the build stops; and the build then loads every module it
 * rewrote (compile-cache.ts), so a rewrite that broke one stops it too.
 */

const WRAPPER =
  /(= __(?:commonJS|esm)\(\{\n {2})("[^"\n]+")\(([^)\n]*)\) \{\n([\s\S]*?)\n {2}\}\n\}\);\n/g;
const OPENED = /= __(?:commonJS|esm)\(\{\n/g;

/** `code` (an esbuild ESM output file) with its module wrappers compiled eagerly. */
export function compileWrappersEagerly(code: string): {
  code: string;
  wrappers: number;
} {
  let wrappers = 0;
  const out = code.replace(
    WRAPPER,
    (_, opening: string, name: string, params: string, body: string) => {
      wrappers++;
      return `${opening}${name}: (function(${params}) {\n${body}\n  })\n});\n`;
    },
  );
  const opened = code.match(OPENED)?.length ?? 0;
  if (opened !== wrappers) {
    throw new Error(
      `eager: ${opened} module wrappers opened, ${wrappers} rewritten: esbuild's output has changed shape`,
    );
  }
  return {code: out, wrappers};
}

/**
 * `code` in ASCII: each other character (esbuild leaves them only in comments, having
 * escaped them everywhere else) written as its `\uXXXX` escape, which means the same
 * UTF-16 code unit in a string, a template or a regular expression, and nothing in a
 * comment. Node hands V8 an ASCII file as a one-byte string, half the size of the
 * two-byte string a single other character makes of the whole file, and quicker to
 * decode, hash and scan.
 */
export function toAscii(code: string): string {
  return code.replace(
    /[\u0080-\uffff]/g,
    c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
