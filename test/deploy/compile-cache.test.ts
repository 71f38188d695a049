/**
 * The compile cache the build ships (build/compile-cache, filled by
 * scripts/build/compile-cache.ts; src/index.ts turns it on), with the built entry served
 * by the functions-framework CLI as Cloud Functions serves it and
 * NODE_DEBUG_NATIVE=COMPILE_CACHE telling what Node did with each module: with the
 * policy in Secret Manager, the bundle and every chunk a cold start loads (the gRPC
 * client's among them) are read from the cache, none compiled. Where the cache cannot
 * serve — a bundle changed since the cache was made, a cache made by another Node
 * (another version, V8 flags or CPU: another folder), a deployment where no cache can
 * be turned on at all — the modules are compiled as without a cache and tvm vends the
 * same. `npm test` builds first.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {serveFunction} from '../support/function-cli.ts';

const root = join(import.meta.dirname, '../..');

const key = generateApiKey();
const POLICY = `version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;

/** What Node's compile cache did with each module of `build` (a build/ folder). */
interface Run {
  /** Modules of the build whose cached code V8 accepted. */
  readonly accepted: Set<string>;
  /** Modules of the build compiled from their source. */
  readonly compiled: Set<string>;
  /** Everything the process printed. */
  readonly output: string;
}

let emulator: Emulator;
let policyVersion: string;
let policyFile: string;

before(async () => {
  emulator = await startEmulator();
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  const secret = 'projects/tvm-local/secrets/tvm-policy';
  emulator.state.createSecret(secret);
  policyVersion = emulator.state.addSecretVersion(secret, POLICY);
  emulator.state.grantSecretAccessor(
    `serviceAccount:${LOCAL_RUNTIME_ACCOUNT}`,
    secret,
  );
  policyFile = join(mkdtempSync(join(tmpdir(), 'tvm-cc-policy-')), 'p.yaml');
  writeFileSync(policyFile, POLICY);
});

after(async () => {
  await emulator?.close();
});

/**
 * Serves `build`/src/index.mjs with the functions-framework CLI, vends one token, and
 * stops it; what Node's compile cache said about the build's own modules.
 */
async function serveAndVend(build: string, policy: string): Promise<Run> {
  const output: string[] = [];
  const served = await serveFunction({
    source: join(build, 'src/index.mjs'),
    emulator,
    env: {TVM_POLICY: policy, NODE_DEBUG_NATIVE: 'COMPILE_CACHE'},
    output,
  });
  const base = served.base;
  try {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`nightly:${key}`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, output.join(''));
    assert.equal(body.token_type, 'Bearer');
  } finally {
    await served.stop();
  }
  const text = output.join('');
  assert.ok(!text.includes(key), 'the API key is in no output');
  const prefix = pathToFileURL(join(build, 'src')).href + '/';
  const modules = (re: RegExp) =>
    new Set(
      [...text.matchAll(re)]
        .map(m => m[1]!)
        .filter(url => url.startsWith(prefix))
        .map(url => url.slice(prefix.length)),
    );
  return {
    accepted: modules(/V8 code cache for ESM (\S+) was accepted/g),
    // Not in the cache, or not for this source (Node then says why), or rejected by V8.
    compiled: modules(
      /V8 code cache for ESM (\S+) (?:was not initialized|was rejected)/g,
    ),
    output: text,
  };
}

/** The chunk that holds Google's Secret Manager client. */
function secretManagerChunk(build: string): string {
  const chunks = readdirSync(join(build, 'src/chunks'));
  const name = chunks.find(n =>
    readFileSync(join(build, 'src/chunks', n), 'utf8').includes(
      'node_modules/@google-cloud/secret-manager/',
    ),
  );
  assert.ok(name, 'a chunk holds the Secret Manager client');
  return `chunks/${name}`;
}

/**
 * A copy of build/ (the bundle and its cache) in a folder of its own, beside a link to
 * the repository's node_modules (functions-framework and express stay outside the
 * bundle), for `change` to spoil.
 */
function copyOfBuild(change: (build: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-cc-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const build = join(dir, 'build');
  cpSync(join(root, 'build/src'), join(build, 'src'), {recursive: true});
  cpSync(join(root, 'build/compile-cache'), join(build, 'compile-cache'), {
    recursive: true,
  });
  change(build);
  return build;
}

void describe('the compile cache the build ships', () => {
  void test('serves the bundle and every chunk a cold start loads, the policy in Secret Manager', async () => {
    const build = join(root, 'build');
    const run = await serveAndVend(build, policyVersion);
    assert.ok(run.accepted.has('main.mjs'), run.output);
    assert.ok(run.accepted.has(secretManagerChunk(build)), run.output);
    assert.deepEqual([...run.compiled], [], 'nothing of tvm compiled');
    // The entry itself turns the cache on, so it is compiled before.
    assert.ok(!run.accepted.has('index.mjs'));
  });

  void test('is not used for a bundle changed since it was made', async () => {
    const build = copyOfBuild(b =>
      appendFileSync(join(b, 'src/main.mjs'), '\n// changed\n'),
    );
    const run = await serveAndVend(build, policyFile);
    assert.ok(run.compiled.has('main.mjs'), run.output);
    assert.ok(!run.accepted.has('main.mjs'));
  });

  void test("is not used by another Node (version, V8's flags or CPU)", async () => {
    // Node keeps a cache in a folder named after all three: another Node's is another.
    const build = copyOfBuild(b => {
      const cache = join(b, 'compile-cache');
      const [folder] = readdirSync(cache);
      renameSync(
        join(cache, folder!),
        join(cache, folder!.replace(/^v[0-9.]+-/, 'v0.0.0-')),
      );
    });
    const run = await serveAndVend(build, policyFile);
    assert.ok(run.compiled.has('main.mjs'), run.output);
    assert.equal(run.accepted.size, 0);
  });

  void test('is done without where it cannot be turned on', async () => {
    // A file where the cache's folder should be: Node can neither make nor write it,
    // as in a read-only deployment.
    const build = copyOfBuild(b => {
      rmSync(join(b, 'compile-cache'), {recursive: true});
      writeFileSync(join(b, 'compile-cache'), '');
    });
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.accepted.size, 0);
    assert.doesNotMatch(run.output, /V8 code cache for ESM/);
  });
});
