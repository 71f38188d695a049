/**
 * Loads tvm's bundle, build/src/tvm.cjs, as Node loads a CommonJS module, compiled with
 * a V8 code cache the build made of it (build/code-cache/tvm.cjs.<cold start>.v8).
 *
 * Why not Node's own compile cache: Node makes a module's cache as it compiles it, so
 * the cache holds the module's top level and little else, and every function a cold
 * start calls (the policy's YAML parser and schema, Google's client libraries, the
 * gRPC channel...) is still parsed and compiled at its first call. V8 can instead make
 * a script's cache after it has run, with every function compiled by then: the build
 * (scripts/build/code-cache.ts) loads the bundle through this same function, runs a
 * cold start a deployment has (a policy in a file, or in Secret Manager: a first
 * token), and writes that cache, one per kind. A cold start then reads those
 * functions' code instead of compiling them.
 *
 * The cache file begins with a header (`writeCodeCache`): CRC-32s of the bundle's text
 * and of V8's data. V8 itself checks only its version, its flags and the source's
 * length (and not its data's checksum, in a release build), so an edit of the same
 * length, or a corrupted file, would run code that is not the bundle's: the header is
 * checked first, and a cache that fails it is not handed to V8. Anything that does not
 * fit (another Node, other V8 flags, a changed bundle, a damaged or missing file) is
 * compiled as without a cache, and runs the same. `NODE_DEBUG=tvm-code-cache` says
 * which.
 */
import {readFileSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {basename, dirname, join} from 'node:path';
import vm from 'node:vm';

/** What happened to the code cache: used, refused by V8, or none to use. */
export type CodeCacheUse = 'accepted' | 'rejected' | 'absent';

/**
 * The cold starts the build takes a cache after, one cache each: the policy in a file,
 * or in Secret Manager (whose gRPC client only the second runs). Each holds the code
 * its cold start ran, and no more for V8 to read in.
 */
export const COLD_STARTS = ['file', 'secret'] as const;
export type ColdStart = (typeof COLD_STARTS)[number];

/** The cache of `coldStart` in `dir` (build/code-cache). */
export function codeCacheFile(dir: string, coldStart: ColdStart): string {
  return join(dir, `tvm.cjs.${coldStart}.v8`);
}

export interface LoadedBundle<T> {
  /** The bundle's exports. */
  readonly exports: T;
  /** The compiled bundle, whose cache the build takes after running it. */
  readonly script: vm.Script;
  readonly cache: CodeCacheUse;
  /** The CRC-32 of the bundle's bytes, as compiled. */
  readonly bundleCrc: number;
}

// CommonJS's wrapper, strict as the bundle's ES modules are, on a line of its own. The
// build writes it into the file (wrapBundle), so the file is the very text V8 compiles:
// read as it is, with no wrapper joined to it at load, and stack traces give the
// file's own line numbers.
const HEAD =
  '(function (exports, require, module, __filename, __dirname) {"use strict";\n';
const TAIL = '\n})';
const HEAD_BYTES = Buffer.from(HEAD, 'latin1');

/** The bundle as the build writes it: a CommonJS module inside its wrapper. */
export function wrapBundle(code: string): string {
  return HEAD + code + TAIL;
}

// node:util and node:zlib by require: an ES import of node:util would read every
// member's descriptor, which makes Node load each of its lazily loaded modules
// (worker_threads among them).
const nodeRequire = createRequire(import.meta.url);
const {debuglog} = nodeRequire('node:util') as typeof import('node:util');
const {crc32} = nodeRequire('node:zlib') as typeof import('node:zlib');
const debug = debuglog('tvm-code-cache');

/**
 * The header: a tag, the bundle's CRC-32, the data's CRC-32 (each 32 bits,
 * little-endian). The tag is the wrapper's CRC-32: a cache made around another
 * wrapper is another.
 */
const TAG = crc32(HEAD + TAIL);
const HEADER_BYTES = 12;

/** V8's data in `file` if its header says it is for the bundle and intact. */
function readCodeCache(
  file: string,
  bundleCrc: number,
): Buffer | 'rejected' | 'absent' {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    // None shipped: compiled as without one. One that cannot be read is refused.
    return (e as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'absent'
      : 'rejected';
  }
  if (
    data.length <= HEADER_BYTES ||
    data.readUInt32LE(0) !== TAG ||
    data.readUInt32LE(4) !== bundleCrc ||
    data.readUInt32LE(8) !== crc32(data.subarray(HEADER_BYTES))
  ) {
    return 'rejected';
  }
  return data.subarray(HEADER_BYTES);
}

/** Writes the cache of `loaded` (V8's data behind the header) to `file`. */
export function writeCodeCache(
  file: string,
  loaded: LoadedBundle<unknown>,
): number {
  const data = loaded.script.createCachedData();
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(TAG, 0);
  header.writeUInt32LE(loaded.bundleCrc, 4);
  header.writeUInt32LE(crc32(data), 8);
  writeFileSync(file, Buffer.concat([header, data]));
  return data.length;
}

export function loadBundle<T>(
  file: string,
  cacheFile: string | undefined,
): LoadedBundle<T> {
  const bytes = readFileSync(file);
  // Not a module in its wrapper (a bundle from an older build): its top level would
  // run in the global scope.
  if (!bytes.subarray(0, HEAD_BYTES.length).equals(HEAD_BYTES)) {
    throw new Error(`${file} is not a bundle in its CommonJS wrapper`);
  }
  const bundleCrc = crc32(bytes);
  const cached =
    cacheFile === undefined ? 'absent' : readCodeCache(cacheFile, bundleCrc);
  // The file is the whole source, wrapper included (wrapBundle): Node hands V8 a text
  // this long, and ASCII as the build writes it, as an external string, kept outside
  // V8's heap, where no collection copies or counts it. Joining a wrapper to it here
  // would make a flat copy of all 3.8 MB on the heap, which reaches V8's first
  // old-generation limit that much sooner.
  const source = bytes.toString('utf8');
  const script = new vm.Script(source, {
    filename: file,
    cachedData: typeof cached === 'string' ? undefined : cached,
  });
  const cache: CodeCacheUse =
    cached === 'absent'
      ? 'absent'
      : cached === 'rejected' || script.cachedDataRejected
        ? 'rejected'
        : 'accepted';
  debug(
    '%s: code cache %s (%s)',
    file,
    cache,
    cacheFile === undefined ? 'none' : basename(cacheFile),
  );
  const module = {exports: {} as T};
  const body = script.runInThisContext() as unknown;
  if (typeof body !== 'function') {
    throw new Error(`${file} is not a bundle in its CommonJS wrapper`);
  }
  body.call(
    module.exports,
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
  );
  return {exports: module.exports, script, cache, bundleCrc};
}
