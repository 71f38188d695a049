/**
 * The bundle in ASCII (build.ts): what the entry and tvm.cjs are written as.
 */

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
