/**
 * The code caches the build ships (build/code-cache/tvm.cjs.file.v8 and
 * tvm.cjs.secret.v8, made by scripts/build/code-cache.ts after running a cold start of
 * the bundle with the policy in a file, and in Secret Manager; the entry loads the
 * bundle with its deployment's, src/load-bundle.ts), with the built entry served by the
 * functions-framework CLI as Cloud Functions serves it and NODE_DEBUG=tvm-code-cache
 * telling what V8 did with the cache. It serves a cold start with the policy in
 * Secret Manager or in a file. Where it cannot serve — a bundle changed since the
 * cache was made, a V8 with other flags (or another V8), a cache file spoiled or gone —
 * the bundle is compiled as without a cache and tvm vends the same. `npm test` builds
 * first.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {
  provisionPolicySecret,
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

/** What V8 did with the bundle's code cache, which, and what the process printed. */
interface Run {
  readonly cache: string | undefined;
  readonly file: string | undefined;
  readonly output: string;
}

let emulator: Emulator;
let policyVersion: string;
let policyFile: string;

before(async () => {
  emulator = await startEmulator();
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  policyVersion = provisionPolicySecret(
    emulator.state,
    'projects/tvm-local/secrets/tvm-policy',
    POLICY,
  );
  policyFile = join(mkdtempSync(join(tmpdir(), 'tvm-cc-policy-')), 'p.yaml');
  writeFileSync(policyFile, POLICY);
});

after(async () => {
  await emulator?.close();
});

/**
 * Serves `build`/src/index.mjs with the functions-framework CLI, vends one token, and
 * stops it; what the entry said of the code cache.
 */
async function serveAndVend(
  build: string,
  policy: string,
  env: Record<string, string> = {},
): Promise<Run> {
  const output: string[] = [];
  const served = await serveFunction({
    source: join(build, 'src/index.mjs'),
    emulator,
    env: {TVM_POLICY: policy, NODE_DEBUG: 'tvm-code-cache', ...env},
    output,
  });
  try {
    const res = await fetch(`${served.base}/token`, {
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
  const said = [...text.matchAll(/tvm\.cjs: code cache (\w+) \(([^)]+)\)/g)];
  assert.ok(said.length <= 1, text);
  return {cache: said[0]?.[1], file: said[0]?.[2], output: text};
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
  cpSync(join(root, 'build/code-cache'), join(build, 'code-cache'), {
    recursive: true,
  });
  change(build);
  return build;
}

void describe('the code cache the build ships', () => {
  void test("each holds the code of its cold start, not only of the load, and the file's not the gRPC client's", () => {
    // The bundle's cache taken right after loading it (its top level and what that
    // ran): the shipped ones, taken after a cold start, hold more; Secret Manager's
    // also its gRPC client's, which the file's cold start never runs.
    const loadedOnly = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import {loadBundle} from ${JSON.stringify(join(root, 'build/src/load-bundle.js'))};
const {script} = loadBundle(${JSON.stringify(join(root, 'build/src/tvm.cjs'))}, undefined);
console.log(script.createCachedData().length);`,
      ],
      {encoding: 'utf8'},
    );
    const load = Number(loadedOnly);
    const file = statSync(join(root, 'build/code-cache/tvm.cjs.file.v8')).size;
    const secret = statSync(
      join(root, 'build/code-cache/tvm.cjs.secret.v8'),
    ).size;
    const sizes = `file ${file} bytes, secret ${secret}, ${load} after the load alone`;
    assert.ok(file > 1.2 * load, sizes);
    assert.ok(secret > 2 * load, sizes);
    assert.ok(secret > 1.5 * file, sizes);
  });

  void test('serves a cold start with the policy in Secret Manager', async () => {
    const run = await serveAndVend(join(root, 'build'), policyVersion);
    assert.equal(run.cache, 'accepted', run.output);
    assert.equal(run.file, 'tvm.cjs.secret.v8');
  });

  void test('serves a cold start with the policy in a file', async () => {
    const run = await serveAndVend(join(root, 'build'), policyFile);
    assert.equal(run.cache, 'accepted', run.output);
    assert.equal(run.file, 'tvm.cjs.file.v8');
  });

  void test('is not used for a bundle changed since it was made', async () => {
    const build = copyOfBuild(b =>
      appendFileSync(join(b, 'src/tvm.cjs'), '\n// changed\n'),
    );
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is not used by a V8 with other flags (V8 checks them, as its version)', async () => {
    const run = await serveAndVend(join(root, 'build'), policyFile, {
      NODE_OPTIONS: '--stack-trace-limit=50',
    });
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is not used for a bundle changed to the same length (V8 checks only the length)', async () => {
    const build = copyOfBuild(b => {
      const file = join(b, 'src/tvm.cjs');
      const text = readFileSync(file, 'utf8');
      const changed = text.replace('"WARNING"', '"WARNINX"');
      assert.notEqual(changed, text);
      assert.equal(changed.length, text.length);
      writeFileSync(file, changed);
    });
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is not used with a bit of its data flipped (V8 does not check)', async () => {
    const build = copyOfBuild(b => {
      const file = join(b, 'code-cache/tvm.cjs.file.v8');
      const data = readFileSync(file);
      const at = Math.floor(data.length / 2);
      data[at] = data[at]! ^ 0x10;
      writeFileSync(file, data);
    });
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is not used when spoiled', async () => {
    const build = copyOfBuild(b =>
      writeFileSync(
        join(b, 'code-cache/tvm.cjs.file.v8'),
        'not a V8 code cache',
      ),
    );
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is refused where it cannot be read (a folder in its place)', async () => {
    const build = copyOfBuild(b => {
      const file = join(b, 'code-cache/tvm.cjs.file.v8');
      rmSync(file);
      mkdirSync(file);
    });
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'rejected', run.output);
  });

  void test('is done without where there is none', async () => {
    const build = copyOfBuild(b =>
      rmSync(join(b, 'code-cache'), {recursive: true}),
    );
    const run = await serveAndVend(build, policyFile);
    assert.equal(run.cache, 'absent', run.output);
  });
});
