/**
 * The build: `npm run build`, and `npm run gcp-build`, which Cloud Functions' Node.js
 * buildpack runs on the function source zip (dev dependencies installed; this folder
 * is in the zip, scripts/package-function.py).
 *
 * 1. tsc (tsconfig.build.json) compiles src/ and emulator/src/ into build/.
 * 2. esbuild bundles the function: build/src/index.mjs, the entry functions-framework
 *    loads, with what only some deployments load split into build/src/chunks/ (the
 *    shared store, Secret Manager's gRPC client).
 *
 *   node scripts/build/build.ts
 */
import {spawnSync} from 'node:child_process';
import {rm} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {join} from 'node:path';
import * as esbuild from 'esbuild';

const root = join(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);

function run(args: string[]): void {
  const r = spawnSync(process.execPath, args, {cwd: root, stdio: 'inherit'});
  if (r.status !== 0) process.exit(r.status ?? 1);
}

await rm(join(root, 'build/src'), {recursive: true, force: true});

run([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json']);

await esbuild.build({
  absWorkingDir: root,
  entryPoints: ['build/src/index.js'],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  splitting: true,
  outdir: 'build/src',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: {'.js': '.mjs'},
  logLevel: 'warning',
  // The framework has loaded both before it loads tvm.
  external: ['@google-cloud/functions-framework', 'express'],
  // In bundled CommonJS code, the chunk's folder (google-gax computes a path from it
  // at load, which a client built from bundled JSON protos never reads).
  define: {__dirname: 'import.meta.dirname'},
  banner: {
    js: "import {createRequire as __tvmCreateRequire} from 'node:module'; const require = __tvmCreateRequire(import.meta.url);",
  },
});
