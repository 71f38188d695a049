/**
 * Loads tvm's bundle, build/src/tvm.cjs, as Node loads a CommonJS module, compiled with
 * the V8 code cache the build made of it (build/code-cache/tvm.cjs.v8).
 *
 * Why not Node's own compile cache: Node makes a module's cache as it compiles it, so
 * the cache holds the module's top level and little else, and every function a cold
 * start calls (the policy's YAML parser and schema, Google's client libraries, the
 * gRPC channel...) is still parsed and compiled at its first call. V8 can instead make
 * a script's cache after it has run, with every function compiled by then: the build
 * (scripts/build/code-cache.ts) loads the bundle through this same function, runs the
 * cold starts a deployment has (a policy in a file, a policy in Secret Manager: a first
 * token each), and writes that cache. A cold start then reads those functions' code
 * instead of compiling them.
 *
 * V8 takes the cache only for the very source it was made from, by the same V8 with the
 * same flags; anything else (another Node, a changed bundle, no cache file) is compiled
 * as without a cache, and runs the same. `NODE_DEBUG=tvm-code-cache` says which.
 */
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname} from 'node:path';
import vm from 'node:vm';

/** What happened to the code cache: used, refused by V8, or none to use. */
export type CodeCacheUse = 'accepted' | 'rejected' | 'absent';

export interface LoadedBundle<T> {
  /** The bundle's exports. */
  readonly exports: T;
  /** The compiled bundle, whose cache the build takes after running it. */
  readonly script: vm.Script;
  readonly cache: CodeCacheUse;
}

// CommonJS's wrapper, on a line of its own (lineOffset keeps the bundle's own line
// numbers in stack traces). The cache is for exactly this text around the bundle.
const HEAD = '(function (exports, require, module, __filename, __dirname) {\n';
const TAIL = '\n})';

// node:util by require: an ES import of it would read every member's descriptor,
// which makes Node load each of its lazily loaded modules (worker_threads among them).
const {debuglog} = createRequire(import.meta.url)(
  'node:util',
) as typeof import('node:util');
const debug = debuglog('tvm-code-cache');

export function loadBundle<T>(
  file: string,
  cacheFile: string | undefined,
): LoadedBundle<T> {
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  if (cacheFile !== undefined) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // None shipped (or unreadable): compiled as without one.
    }
  }
  const script = new vm.Script(HEAD + source + TAIL, {
    filename: file,
    lineOffset: -1,
    cachedData,
  });
  const cache: CodeCacheUse =
    cachedData === undefined
      ? 'absent'
      : script.cachedDataRejected
        ? 'rejected'
        : 'accepted';
  debug('%s: code cache %s', file, cache);
  const module = {exports: {} as T};
  const body = script.runInThisContext() as (
    exports: T,
    require: NodeJS.Require,
    module: {exports: T},
    filename: string,
    dirname: string,
  ) => void;
  body.call(
    module.exports,
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
  );
  return {exports: module.exports, script, cache};
}
