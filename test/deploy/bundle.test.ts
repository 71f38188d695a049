/**
 * The built bundle (build/src/index.mjs, what `npm start` and the buildpack serve, and
 * build/src/tvm.cjs, tvm itself, which it loads) with the Secret Manager client
 * bundled into it: Google's gRPC client, google-gax, grpc-js and protobufjs are run only
 * when something is read from Secret Manager. Served by the functions-framework CLI
 * against the emulator, it reads its policy from a secret version and a service-account
 * key from another, so the bundled client (its protos, its gRPC channel, the CRC-32C
 * check) is what talks to the emulator. `npm test` builds first.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, statSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {
  provisionPolicySecret,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {serveFunction, type ServedFunction} from '../support/function-cli.ts';

const root = join(import.meta.dirname, '../..');
const built = join(root, 'build/src');
const MODULE_LIST = join(import.meta.dirname, '../support/module-list.cjs');

const key = generateApiKey();
const POLICY = `version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
  etl:
    email: etl@tvm-local.iam.gserviceaccount.com
    mint: key
    key_secret: projects/tvm-local/secrets/etl-key/versions/latest
  unprovisioned:
    email: unprovisioned@tvm-local.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
      - service_account: etl
        scopes: [cloud-platform]
        max_lifetime: 1h
      - service_account: unprovisioned
        scopes: [cloud-platform]
        max_lifetime: 1h
`;

/** The emulator knows every account of POLICY but \`unprovisioned\`. */
const PROVISIONED = POLICY.replace(/^ {2}unprovisioned:\n.*\n/m, '').replace(
  /^ {6}- service_account: unprovisioned\n(?: {8}.*\n)+/m,
  '',
);

/** The bundle's files: the entry and tvm, with their text. */
function bundleFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of ['index.mjs', 'tvm.cjs']) {
    files.set(name, readFileSync(join(built, name), 'utf8'));
  }
  return files;
}

void describe('the built bundle', () => {
  void test('carries the Secret Manager client, and runs none of it at load', () => {
    const files = bundleFiles();
    // Nothing requires the gRPC stack from node_modules (esbuild writes an external
    // as `from "x"`, `import("x")` or `require("x")`): it is in the bundle.
    const external =
      /(?:\bfrom |\bimport\(|\brequire\()"(?:@google-cloud\/secret-manager|google-gax|@grpc\/grpc-js|@grpc\/proto-loader|protobufjs)(?:\/[^"]*)?"/;
    for (const [name, text] of files) {
      assert.ok(
        !external.test(text),
        `${name} imports ${external.exec(text)?.[0]}`,
      );
    }
    assert.ok(
      files
        .get('tvm.cjs')!
        .includes('node_modules/@google-cloud/secret-manager/'),
      'tvm.cjs holds the Secret Manager client',
    );
    // Loaded as the entry loads it (with its code cache), the bundle runs no gRPC:
    // grpc-js would have loaded Node's http2.
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import {loadBundle} from ${JSON.stringify(join(built, 'load-bundle.js'))};
import {getHeapCodeStatistics} from 'node:v8';
const external = () => getHeapCodeStatistics().external_script_source_size;
const before = external();
const {cache, exports} = loadBundle(${JSON.stringify(join(built, 'tvm.cjs'))}, ${JSON.stringify(join(built, '../code-cache/tvm.cjs.secret.v8'))});
console.log(JSON.stringify({cache, start: typeof exports.start, modules: process.moduleLoadList, externalSource: external() - before}));`,
      ],
      {encoding: 'utf8'},
    );
    const {cache, start, modules, externalSource} = JSON.parse(loaded) as {
      cache: string;
      start: string;
      modules: string[];
      externalSource: number;
    };
    assert.equal(cache, 'accepted');
    // The bundle's text is V8's source as it is, an external string off the heap.
    const size = statSync(join(built, 'tvm.cjs')).size;
    assert.ok(
      externalSource >= size,
      `external script source grew by ${externalSource}, not the bundle's ${size} bytes`,
    );
    assert.equal(start, 'function');
    assert.ok(
      modules.includes('NativeModule http'),
      'the list is the real one',
    );
    assert.ok(!modules.includes('NativeModule http2'), 'grpc-js ran at load');
  });

  void test("carries Secret Manager's v1 protos only (scripts/build/protos.ts)", () => {
    const files = bundleFiles();
    const client = [...files.values()].find(text =>
      text.includes('node_modules/@google-cloud/secret-manager/'),
    )!;
    assert.match(client, /\bAccessSecretVersion\b/);
    // esbuild writes a JSON document as an object literal: a beta version's namespace
    // would be a key `v1beta2: {`.
    for (const [name, text] of files) {
      assert.doesNotMatch(
        text,
        /\bv1beta\d*: \{/,
        `${name} carries a beta API`,
      );
      // Only AccessSecretVersion of the service: no other method's messages.
      assert.doesNotMatch(text, /\bAddSecretVersionRequest\b/, name);
    }
  });

  void test("leaves google-gax's static IAM, Locations and Operations protos out", () => {
    const all = [...bundleFiles().values()].join('\n');
    // The static code's roots; the JSON protos the gRPC clients use stay.
    for (const root of [
      'iam_protos',
      'locations_protos',
      'operations_protos',
    ]) {
      assert.ok(!all.includes(`roots.${root}`), `${root} is bundled`);
    }
    for (const name of ['iam_service', 'locations', 'operations']) {
      assert.ok(
        all.includes(
          `google-gax's static ${name} protos are not in tvm's bundle`,
        ),
        `a stand-in for ${name}`,
      );
    }
    assert.match(all, /google\.longrunning\.Operations/);
  });

  void describe('served by the functions-framework CLI, the policy in Secret Manager', () => {
    let emulator: Emulator;
    let served: ServedFunction | undefined;
    let base: string;
    const output: string[] = [];
    const moduleList = join(
      mkdtempSync(join(tmpdir(), 'tvm-bundle-')),
      'modules.json',
    );

    before(async () => {
      emulator = await startEmulator();
      provisionForPolicy(emulator.state, parsePolicy(PROVISIONED));
      const version = provisionPolicySecret(
        emulator.state,
        'projects/tvm-local/secrets/tvm-policy',
        POLICY,
      );
      served = await serveFunction({
        source: join(built, 'index.mjs'),
        emulator,
        env: {
          TVM_POLICY: version,
          // gaxios then builds its proxy agent (loaded from node_modules) for each
          // Google call; tvm's fetch sends on Node's global agents, which use a proxy
          // only with NODE_USE_ENV_PROXY=1 (docs/deploy.md), so the calls go direct.
          HTTPS_PROXY: 'http://127.0.0.1:9',
          // The built-in modules the process loaded, written out as it exits.
          NODE_OPTIONS: `--require ${MODULE_LIST}`,
          TVM_TEST_MODULE_LIST: moduleList,
        },
        output,
      });
      base = served.base;
    });

    after(async () => {
      await served?.stop();
      await emulator?.close();
    });

    const vend = async (audience: string, scope: string) => {
      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`nightly:${key}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          audience,
          scope,
        }).toString(),
      });
      return {
        status: res.status,
        body: (await res.json()) as Record<string, unknown>,
      };
    };

    void test('the policy was read through the bundled gRPC client', () => {
      assert.ok(emulator.stats.count('secretmanager.access') >= 1);
      assert.match(output.join(''), /"message":"policy loaded"/);
    });

    void test('it vends an impersonated token', async () => {
      const before = emulator.stats.count('iam.generateAccessToken');
      const r = await vend('reporting', 'bigquery.readonly');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.token_type, 'Bearer');
      assert.equal(typeof r.body.access_token, 'string');
      assert.equal(
        r.body.scope,
        'https://www.googleapis.com/auth/bigquery.readonly',
      );
      assert.equal(emulator.stats.count('iam.generateAccessToken'), before + 1);
    });

    void test('it mints with a key read from Secret Manager', async () => {
      const reads = emulator.stats.count('secretmanager.access');
      const grants = emulator.stats.count('oauth2.token');
      const r = await vend('etl', 'cloud-platform');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.token_type, 'Bearer');
      assert.equal(typeof r.body.access_token, 'string');
      assert.equal(
        r.body.scope,
        'https://www.googleapis.com/auth/cloud-platform',
      );
      assert.equal(emulator.stats.count('secretmanager.access'), reads + 1);
      assert.equal(emulator.stats.count('oauth2.token'), grants + 1);
    });

    void test("Google's refusal is read and answered", async () => {
      const before = emulator.stats.count('iam.generateAccessToken');
      const r = await vend('unprovisioned', 'cloud-platform');
      assert.equal(emulator.stats.count('iam.generateAccessToken'), before + 1);
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.equal(r.body.access_token, undefined);
      // Google's error body was read: its status is in the operator's line.
      const detail =
        '"detail":"IAM Credentials generateAccessToken answered HTTP 404 (NOT_FOUND)"';
      for (let i = 0; i < 100 && !output.join('').includes(detail); i++) {
        await new Promise(r => setTimeout(r, 20));
      }
      assert.ok(output.join('').includes(detail), output.join(''));
    });

    void test('nothing was printed but JSON log lines', () => {
      for (const line of output.join('').split('\n')) {
        if (!line) continue;
        assert.doesNotThrow(() => JSON.parse(line) as unknown, line);
      }
      assert.ok(!output.join('').includes(key), 'the API key is in no log');
    });

    void test("Google's answers were carried by tvm's Headers and Response, not undici's (src/web.ts)", async () => {
      await served!.stop();
      const loaded = JSON.parse(readFileSync(moduleList, 'utf8')) as string[];
      assert.ok(
        loaded.includes('NativeModule http'),
        'the list is the real one',
      );
      for (const name of [
        'internal/deps/undici/undici',
        'perf_hooks',
        'internal/crypto/webcrypto',
        // Loaded by dependencies at load for what tvm never uses (scripts/build/
        // patches.ts; assert is, as the log stream closes at exit).
        'worker_threads',
        'internal/util/parse_args/parse_args',
      ]) {
        assert.ok(
          !loaded.includes(`NativeModule ${name}`),
          `${name} was loaded`,
        );
      }
    });
  });
});
