/**
 * The build: `npm run build`, and `npm run gcp-build`, which Cloud Functions' Node.js
 * buildpack runs on the function source zip (dev dependencies installed; this folder
 * is in the zip, scripts/package-function.py).
 *
 * 1. tsc (tsconfig.build.json) compiles src/ and emulator/src/ into build/.
 * 2. esbuild bundles the function: build/src/index.mjs, the entry functions-framework
 *    loads (src/index.ts), and build/src/tvm.cjs, tvm itself, one CommonJS file the
 *    entry compiles with its code cache (src/load-bundle.ts); what only some
 *    deployments use (the shared store, Secret Manager's gRPC client) is in it but
 *    runs only when first required. Google's client libraries carry protos for API
 *    versions and options tvm never uses, which their clients turn into gRPC
 *    descriptors when constructed: the bundle carries only what the method tvm calls
 *    reaches (protos.ts), and none of google-gax's static protos
 *    (staticProtosLeftOut). What a library does at load or at client construction
 *    that tvm never uses is deferred to its first use (patches.ts). The bundled code
 *    loads Node's built-in modules with `require` (builtinsByRequire) and gets tvm's
 *    Headers and Response (src/web.ts): neither way loads undici, which none of tvm's
 *    Google calls is sent through. Both files are written in ASCII (ascii.ts).
 * 3. A fresh Node runs a cold start of the bundle against the Google emulator and
 *    writes the bundle's V8 code cache, once with the policy in a file and once in
 *    Secret Manager: build/code-cache/tvm.cjs.file.v8 and tvm.cjs.secret.v8
 *    (code-cache.ts); the entry reads the one of its deployment's cold start.
 *
 *   node scripts/build/build.ts
 */
import {spawnSync} from 'node:child_process';
import {readFile, rm, writeFile} from 'node:fs/promises';
import {createRequire, isBuiltin} from 'node:module';
import {join} from 'node:path';
import * as esbuild from 'esbuild';
import {COLD_STARTS, wrapBundle} from '../../src/load-bundle.ts';
import {toAscii} from './ascii.ts';
import {trimProtos, type ProtoJson} from './protos.ts';
import {applyPatch, PATCHES} from './patches.ts';

const root = join(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);

/** JSON protos bundled trimmed: the file, and what of it the client calls (protos.ts). */
const PROTOS: readonly {filter: RegExp; names: string[]}[] = [
  // The Secret Manager client (v1): the function only reads secret versions (the
  // CLI, which also writes them, runs unbundled, with the whole document).
  {
    filter:
      /[\\/]@google-cloud[\\/]secret-manager[\\/]build[\\/]protos[\\/]protos\.json$/,
    names: [
      'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion',
    ],
  },
  // The Locations mixin google-gax constructs with every client.
  {
    filter: /[\\/]google-gax[\\/]build[\\/]protos[\\/]locations\.json$/,
    names: ['google.cloud.location'],
  },
];

/** The PROTOS files esbuild met: one it did not means a library moved its protos. */
const trimmed = new Set<RegExp>();

const trimmedProtos: esbuild.Plugin = {
  name: 'trimmed-protos',
  setup(build) {
    for (const {filter, names} of PROTOS) {
      build.onLoad({filter}, async args => {
        trimmed.add(filter);
        const json = JSON.parse(await readFile(args.path, 'utf8')) as ProtoJson;
        return {
          contents: JSON.stringify(trimProtos(json, names)),
          loader: 'json',
        };
      });
    }
  },
};

/**
 * Node's modules are loaded with `require`, never as ES modules: Node makes an ES
 * module of a built-in by reading every export, getters too, so an `import` of
 * node:http loads undici (for its WebSocket), of node:crypto WebCrypto, of node:fs its
 * promises and streams, none of which tvm uses. A `require` reads only what is used.
 * An import of a built-in resolves to a small CommonJS module that requires it, with
 * the banner's `require`, as every bundled CommonJS module does.
 */
const builtinsByRequire: esbuild.Plugin = {
  name: 'builtins-by-require',
  setup(build) {
    build.onResolve({filter: /^[a-z0-9_:/]+$/}, args => {
      if (!isBuiltin(args.path)) return undefined;
      // A require, and a dynamic import (Node's own, as unbundled code does it).
      if (
        args.kind === 'require-call' ||
        args.kind === 'dynamic-import' ||
        args.namespace === 'builtin'
      ) {
        return {path: args.path, external: true};
      }
      return {path: args.path, namespace: 'builtin'};
    });
    build.onLoad({filter: /.*/, namespace: 'builtin'}, args => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * google-gax loads, with its index, the static protobufjs code of the IAM, Locations
 * and long-running Operations APIs (about 1 MB, run at load) only to export it: its
 * gRPC clients build their services from the JSON protos instead, and the static code
 * serves only REST clients and long-running operations, neither of which tvm has. The
 * bundle carries a stand-in for each: a module that says what it is, and fails with a
 * clear error should anything reach into it.
 */
const STATIC_PROTOS =
  /[\\/]google-gax[\\/]build[\\/]protos[\\/](iam_service|locations|operations)\.js$/;
const staticProtosLeftOut: esbuild.Plugin = {
  name: 'static-protos-left-out',
  setup(build) {
    build.onLoad({filter: STATIC_PROTOS}, args => {
      const name = STATIC_PROTOS.exec(args.path)![1]!;
      left.add(name);
      return {
        contents: `Object.defineProperty(exports, '__esModule', {value: true});
Object.defineProperty(exports, 'google', {
  get() {
    throw new Error(${JSON.stringify(`google-gax's static ${name} protos are not in tvm's bundle (scripts/build/build.ts)`)});
  },
});
`,
        loader: 'js',
      };
    });
  },
};
const left = new Set<string>();

/** Dependencies' files changed as they are loaded (patches.ts). */
const patched = new Set<RegExp>();
const patchedDependencies: esbuild.Plugin = {
  name: 'patched-dependencies',
  setup(build) {
    for (const patch of PATCHES) {
      build.onLoad({filter: patch.file}, async args => {
        patched.add(patch.file);
        return {
          contents: applyPatch(patch, await readFile(args.path, 'utf8')),
          loader: 'js',
        };
      });
    }
  },
};

function run(args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

await rm(join(root, 'build/src'), {recursive: true, force: true});
await rm(join(root, 'build/code-cache'), {recursive: true, force: true});

run([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json']);

/** What both bundles share: Node 24, and the framework outside (it loads them). */
const common: esbuild.BuildOptions = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node24',
  logLevel: 'warning',
};

/** The entry keeps its import of src/main.ts (tsc's build) should tvm.cjs be gone. */
const mainLeftOut: esbuild.Plugin = {
  name: 'main-left-out',
  setup(build) {
    build.onResolve({filter: /^\.\/main\.js$/}, args => ({
      path: args.path,
      external: true,
    }));
  },
};

// The entry: an ES module, as functions-framework loads it.
await esbuild.build({
  ...common,
  entryPoints: ['build/src/index.js'],
  format: 'esm',
  outfile: 'build/src/index.mjs',
  banner: {
    js: "import {createRequire as __tvmCreateRequire} from 'node:module'; const require = __tvmCreateRequire(import.meta.url);",
  },
  plugins: [builtinsByRequire, mainLeftOut],
});

// tvm: one CommonJS file, which the entry compiles with its code cache.
await esbuild.build({
  ...common,
  entryPoints: ['build/src/main.js'],
  format: 'cjs',
  outfile: 'build/src/tvm.cjs',
  // import.meta is empty in CommonJS: a bundled module that reads it stops the build.
  logOverride: {'empty-import-meta': 'error'},
  // A script run by vm has no import() of its own (without an experimental flag):
  // each, of what the bundle leaves to Node, becomes a require in a promise.
  supported: {'dynamic-import': false},
  // gaxios imports its proxy agent (with HTTPS_PROXY set) by name: left to Node, a
  // CommonJS package, whose require gives its named exports.
  external: [
    '@google-cloud/functions-framework',
    'express',
    'https-proxy-agent',
  ],
  // The bundled code's Headers, Response, Request and FormData are tvm's (src/web.ts),
  // not Node's, whose first use loads undici.
  inject: ['build/src/web.js'],
  plugins: [
    trimmedProtos,
    builtinsByRequire,
    staticProtosLeftOut,
    patchedDependencies,
  ],
});
for (const {file} of PATCHES) {
  if (!patched.has(file)) throw new Error(`build: no file met ${file}`);
}
for (const {filter} of PROTOS) {
  if (!trimmed.has(filter)) throw new Error(`build: no protos met ${filter}`);
}
if (left.size !== 3) {
  throw new Error(
    `build: google-gax's static protos met: ${[...left].join(', ')}`,
  );
}
for (const file of ['build/src/index.mjs', 'build/src/tvm.cjs']) {
  const path = join(root, file);
  const ascii = toAscii(await readFile(path, 'utf8'));
  // tvm.cjs in its CommonJS wrapper, the very text the entry compiles.
  await writeFile(path, file.endsWith('tvm.cjs') ? wrapBundle(ascii) : ascii);
}
if (
  /\bimport\(/.test(await readFile(join(root, 'build/src/tvm.cjs'), 'utf8'))
) {
  throw new Error('build: tvm.cjs has an import(), which vm cannot run');
}

// The cache, made by a Node started as the function's is (no flags, no preloads).
const env = {...process.env};
delete env.NODE_OPTIONS;
for (const coldStart of COLD_STARTS) {
  run([join(import.meta.dirname, 'code-cache.ts'), coldStart], env);
}
