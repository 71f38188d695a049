/**
 * The function source zip, built and served the way Google's Node.js buildpack builds
 * a 2nd gen function from it (cmd/nodejs/npm in the buildpacks): with a `gcp-build`
 * script present, `npm ci` with NODE_ENV=development (dev dependencies included), then
 * `npm run gcp-build`, then `npm prune` of the dev dependencies (NODE_ENV=production,
 * the runtime's default), then the functions-framework CLI with the target, which
 * loads the bundle with the code cache gcp-build made. Node 24 (this test's own
 * Node) is the runtime's Node; nothing from the repository outside the zip is on
 * hand, so a script that needs scripts/node24.sh or a prebuilt build/ fails here as it
 * would in Cloud Build. The served function then vends a token
 * against the local Google emulator.
 *
 * The zip is made by scripts/package-function.py, the script cloudbuild.yaml runs.
 * npm reads its cache only (--offline): every package is in the lockfile that the
 * repository's own `npm ci` has just installed.
 */
import {describe, test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {provisionForPolicy} from '../../src/local/provision.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {freePort} from '../support/net.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'tvm-buildpack-'));
const zip = join(work, 'function-source.zip');
const app = join(work, 'workspace');
// The runtime's Node and its own npm first on PATH; no .tools, no repository scripts.
const PATH = [dirname(process.execPath), '/usr/bin', '/bin'].join(':');
const baseEnv = {
  PATH,
  HOME: mkdtempSync(join(tmpdir(), 'tvm-buildpack-home-')),
  npm_config_cache: join(process.env.HOME ?? '/root', '.npm'),
};

function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): string {
  const r = spawnSync(cmd, args, {
    cwd: app,
    env: {...baseEnv, ...env},
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} failed:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`,
  );
  return r.stdout;
}

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

void describe('the function source zip under the Node.js buildpack', () => {
  const timings: Record<string, number> = {};
  let emulator: Emulator | undefined;
  let fn: ChildProcess | undefined;
  const output: string[] = [];

  const timed = <T>(name: string, f: () => T): T => {
    const t = performance.now();
    try {
      return f();
    } finally {
      timings[name] = Math.round(performance.now() - t);
    }
  };

  before(() => {
    timed('package', () =>
      spawnSync('python3', [join(ROOT, 'scripts/package-function.py'), zip], {
        encoding: 'utf8',
      }),
    );
    assert.ok(existsSync(zip), 'scripts/package-function.py made the zip');
    const r = spawnSync('python3', ['-m', 'zipfile', '-e', zip, app], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  });

  // A step that outlives its timeout keeps running after the hooks: nothing it starts
  // may outlive the test process.
  let closed = false;
  after(async () => {
    closed = true;
    fn?.kill();
    await emulator?.close();
  });
  process.once('exit', () => fn?.kill());

  void test('the zip holds sources to build, and nothing its scripts cannot reach', () => {
    const listing = spawnSync('python3', ['-m', 'zipfile', '-l', zip], {
      encoding: 'utf8',
    }).stdout;
    const has = (path: string) =>
      new RegExp(`^${path.replaceAll('.', '\\.')}\\s`, 'm').test(listing);
    for (const want of [
      'package.json',
      'package-lock.json',
      'tsconfig.build.json',
      'src/index.ts',
      'scripts/build/build.ts',
    ]) {
      assert.ok(has(want), want);
    }
    // Of scripts/, the build's own folder only.
    for (const absent of [
      'node_modules/',
      'build/',
      'scripts/(?!build/)',
      '.tools/',
    ]) {
      assert.doesNotMatch(listing, new RegExp(`^${absent}`, 'm'), absent);
    }
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.ok(pkg.scripts['gcp-build'], 'a gcp-build script');
    // Every file the script names is in the zip.
    const named =
      pkg.scripts['gcp-build']!.match(
        /[\w./-]+\.(?:ts|js|mjs|json|sh|py)\b/g,
      ) ?? [];
    assert.ok(named.length > 0, pkg.scripts['gcp-build']);
    for (const file of named) assert.ok(has(file), `${file} is in the zip`);
  });

  void test('the same tree packs to the same bytes (the object name is its MD5)', () => {
    const again = join(work, 'again.zip');
    spawnSync('python3', [join(ROOT, 'scripts/package-function.py'), again]);
    assert.deepEqual(readFileSync(again), readFileSync(zip));
  });

  // One test per buildpack step, each with room for a loaded machine.
  const SLOW = {timeout: 300_000};

  void test(
    'npm ci with NODE_ENV=development, as the buildpack installs when gcp-build exists',
    SLOW,
    () => {
      timed('npm ci', () =>
        run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--quiet'], {
          NODE_ENV: 'development',
        }),
      );
      assert.ok(existsSync(join(app, 'node_modules/typescript')));
    },
  );

  void test(
    "npm run gcp-build makes package.json main with the runtime's Node",
    SLOW,
    () => {
      timed('gcp-build', () => run('npm', ['run', 'gcp-build']));
      const main = (
        JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
          main: string;
        }
      ).main;
      assert.ok(existsSync(join(app, main)), `gcp-build produced ${main}`);
      for (const coldStart of ['file', 'secret']) {
        assert.ok(
          existsSync(join(app, `build/code-cache/tvm.cjs.${coldStart}.v8`)),
          `gcp-build made the ${coldStart} cold start's code cache`,
        );
      }
    },
  );

  void test('npm prune leaves the production dependencies only', SLOW, () => {
    timed('npm prune', () =>
      run('npm', ['prune', '--offline', '--no-audit', '--no-fund'], {
        NODE_ENV: 'production',
      }),
    );
    assert.ok(
      !existsSync(join(app, 'node_modules/typescript')),
      'dev dependencies are gone: the function runs on production ones only',
    );
  });

  void test(
    'functions-framework --target=tvm serves the build, and it vends a token against the emulator',
    SLOW,
    async () => {
      if (closed) return;
      emulator = await startEmulator();
      if (closed) {
        await emulator.close();
        return;
      }
      const policyPath = join(work, 'policy.yaml');
      writeFileSync(policyPath, POLICY);
      provisionForPolicy(emulator.state, parsePolicy(POLICY));
      const port = await freePort();
      const started = performance.now();
      fn = spawn(
        join(app, 'node_modules/.bin/functions-framework'),
        ['--target=tvm', `--port=${port}`],
        {
          cwd: app,
          env: {
            ...baseEnv,
            NODE_ENV: 'production',
            TVM_POLICY: policyPath,
            TVM_LOCAL: '1',
            GCE_METADATA_HOST: emulator.metadataHost,
            TVM_IAM_CREDENTIALS_ENDPOINT: emulator.url,
            TVM_OAUTH2_TOKEN_URL: emulator.tokenUrl,
            TVM_SECRET_MANAGER_ENDPOINT: emulator.secretManagerEndpoint,
            TVM_STS_ENDPOINT: emulator.url,
            // The entry says what V8 did with the code cache (checked below).
            NODE_DEBUG: 'tvm-code-cache',
          },
        },
      );
      fn.stdout?.on('data', (d: Buffer) => output.push(String(d)));
      fn.stderr?.on('data', (d: Buffer) => output.push(String(d)));
      if (closed) fn.kill();
      const base = `http://127.0.0.1:${port}`;
      let health = 0;
      while (performance.now() - started < 90_000 && fn.exitCode === null) {
        health = await fetch(`${base}/health`)
          .then(async r => (await r.arrayBuffer(), r.status))
          .catch(() => 0);
        if (health === 200) break;
        await new Promise(r => setTimeout(r, 50));
      }
      assert.equal(health, 200, `the function came up: ${output.join('')}`);
      timings['ready'] = Math.round(performance.now() - started);
      // /health, which the docs and the uptime check probe, answers as /healthz does.
      for (const path of ['/health', '/healthz']) {
        const r = await fetch(`${base}${path}`);
        assert.deepEqual(
          [r.status, await r.json()],
          [200, {status: 'ok'}],
          path,
        );
      }

      const res = await fetch(`${base}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`nightly:${key}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
      });
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 200, JSON.stringify(Object.keys(body)));
      assert.equal(body.token_type, 'Bearer');
      assert.equal(typeof body.access_token, 'string');
      assert.ok(emulator.stats.count('iam.generateAccessToken') >= 1);
      // A wrong key is refused by the same build: it is tvm answering, not a stub.
      const refused = await fetch(`${base}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('nightly:wrong').toString('base64')}`,
        },
        body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
      });
      await refused.arrayBuffer();
      assert.equal(refused.status, 401);
      const logs = output.join('');
      // The code cache gcp-build made serves the bundle, after npm prune.
      assert.match(
        logs,
        /\/build\/src\/tvm\.cjs: code cache accepted \(tvm\.cjs\.file\.v8\)/,
      );
      assert.ok(!logs.includes(key), 'the API key is never logged');
      assert.ok(
        !logs.includes(String(body.access_token)),
        'the token is never logged',
      );
      process.stdout.write(
        `# buildpack timings (ms): ${JSON.stringify(timings)}\n`,
      );
    },
  );
});
