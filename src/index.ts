/**
 * The Cloud Function entry (built: build/src/index.mjs, which functions-framework
 * loads): it turns on the compile cache the build shipped, then loads tvm (src/main.ts)
 * and starts it.
 *
 * The build fills build/compile-cache (scripts/build/compile-cache.ts) with V8's code
 * for the bundle and its chunks, so a cold start reads that code instead of parsing
 * and compiling megabytes of JavaScript again. Node checks every entry: the cache is
 * kept in a folder named after Node's version, V8's flags, the CPU's features and the
 * user, and an entry is used only for the very source it was made from; anything else
 * is compiled as it would be without a cache (and written back when the folder is
 * writable; a read-only deployment just goes without). Run from the sources
 * (src/index.ts, as tests do), there is no shipped cache and none is made.
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import {existsSync} from 'node:fs';
import module from 'node:module';
import {join} from 'node:path';

const directory = join(import.meta.dirname, '..', 'compile-cache');
if (existsSync(directory)) {
  try {
    // Portable: entries are found by their path relative to the cache, wherever the
    // build has been moved since.
    module.enableCompileCache({directory, portable: true});
  } catch {
    // A Node without these options: tvm starts without the cache.
  }
}

const {start} = await import('./main.ts');
await start();
