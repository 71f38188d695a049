/**
 * Fills build/compile-cache, the compile cache the entry (src/index.ts) turns on at
 * start, with V8's code for tvm's bundle: build/src/main.mjs and every chunk, those
 * loaded on demand too (the shared store, Secret Manager's gRPC client). build.ts runs
 * it in a Node of its own, started as functions-framework's is (no flags), after
 * esbuild; it turns the cache on as the entry does (same directory, portable), loads
 * each module, and writes the cache out.
 *
 * Loading starts nothing: main.mjs only defines `start` (src/main.ts), and no chunk
 * does anything when loaded but define its modules; so no configuration, policy,
 * network or Google service is needed here. Node stores a module's code as V8
 * compiled it on load (the top level and what V8 compiled eagerly), which is what a
 * cold start then reads instead of parsing and compiling the source.
 *
 *   node scripts/build/compile-cache.ts     # after the bundle is built
 */
import {readdirSync} from 'node:fs';
import module from 'node:module';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

const built = join(import.meta.dirname, '../../build');
const directory = join(built, 'compile-cache');

if (process.env.NODE_DISABLE_COMPILE_CACHE) {
  console.log('compile cache: not filled (NODE_DISABLE_COMPILE_CACHE is set)');
  process.exit(0);
}
const {status, message} = module.enableCompileCache({
  directory,
  portable: true,
});
if (status !== module.constants.compileCacheStatus.ENABLED) {
  throw new Error(
    `compile cache: not enabled in ${directory}: ${message ?? `status ${status}`}`,
  );
}

const modules = [
  join(built, 'src/main.mjs'),
  ...readdirSync(join(built, 'src/chunks'))
    .filter(name => name.endsWith('.mjs'))
    .sort()
    .map(name => join(built, 'src/chunks', name)),
];
for (const file of modules) await import(pathToFileURL(file).href);
module.flushCompileCache();

// An entry per module (and per module of functions-framework that the bundle loads
// itself), in the one folder Node names after its version, V8's flags and the CPU's
// features (and the user): a module without one would be compiled at start.
const folders = readdirSync(directory);
const entries = folders.flatMap(f => readdirSync(join(directory, f)));
if (folders.length !== 1 || entries.length < modules.length) {
  throw new Error(
    `compile cache: ${entries.length} entries in ${folders.join(', ')} for ${modules.length} modules`,
  );
}
console.log(
  `compile cache: ${entries.length} modules in build/compile-cache/${folders[0]}`,
);
