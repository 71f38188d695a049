/**
 * `npm start`: local mode. Builds tvm if needed, starts the local Google emulator,
 * provisions every service account the policy names, then serves the built function
 * exactly as Cloud Functions does (functions-framework, target `tvm`) with TVM_LOCAL=1
 * and the endpoint variables pointing at the emulator. Prints the URLs and a curl
 * that vends a token as pasted.
 *
 * With no TVM_POLICY, the demo policy (policy/demo.yaml) is used with a fresh API key,
 * printed once. `.tvm-local/<port>/emulator.json` tells `tvm import-user --local`
 * where the emulator is.
 *
 * `npm start -- --redis` (or TVM_LOCAL_REDIS=1) also starts a private redis-server from
 * PATH — loopback, a fresh random password, no persistence — and points tvm's shared
 * store at it with a fresh cache key (docs/shared-store.md).
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {createConnection, createServer, type AddressInfo} from 'node:net';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import {delimiter, dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {startEmulator} from '../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../src/auth/api-key.ts';
import {emulatorEnvironment} from '../src/local/environment.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../src/local/provision.ts';
import {writeEmulatorFile} from '../src/local/emulator-file.ts';
import {parsePolicy} from '../src/policy/index.ts';
import {
  LocalStartError,
  assertPortFree,
  bannerCurl,
  checkLocalConfig,
} from '../src/local/preflight.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_PLACEHOLDER = /"0{64}"\s*# replaced by npm start/;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, entry.name);
    newest = Math.max(
      newest,
      entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs,
    );
  }
  return newest;
}

function buildIfNeeded(): void {
  const entry = join(root, 'build/src/index.mjs');
  const stale =
    !existsSync(entry) ||
    statSync(entry).mtimeMs <
      Math.max(
        newestMtime(join(root, 'src')),
        newestMtime(join(root, 'emulator/src')),
      );
  if (!stale) return;
  process.stdout.write('Building tvm (npm run build)...\n');
  // package.json's gcp-build script, run as npm runs a script (sh, with the project's
  // node_modules/.bin and this Node first on PATH), so there is one build definition.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const r = spawnSync('sh', ['-c', pkg.scripts['gcp-build']!], {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      PATH: [
        join(root, 'node_modules/.bin'),
        dirname(process.execPath),
        process.env.PATH ?? '',
      ].join(delimiter),
    },
  });
  if (r.status !== 0) throw new Error('build failed');
}

async function main(): Promise<void> {
  // Before anything is printed, built or written (src/local/preflight.ts): every
  // setting as tvm will parse it, and the port.
  const settings = checkLocalConfig(process.env);
  const port = settings.port;
  // Loopback unless told otherwise: a local tvm with a demo key is not for the network.
  // npm start's own setting (the function never reads it): scripts/listen-host.ts.
  const host = process.env.TVM_LOCAL_HOST?.trim() || '127.0.0.1';
  await assertPortFree(host, port);
  buildIfNeeded();
  // Per port: an instance on another port never shares (or overwrites) these files.
  const stateDir = join(root, '.tvm-local', String(port));
  mkdirSync(stateDir, {recursive: true, mode: 0o700});

  if (settings.policySource?.kind === 'secret') {
    throw new Error(
      'local mode reads TVM_POLICY from a file (the emulator then serves what it names); save the policy to a file and point TVM_POLICY at it',
    );
  }
  let policyPath = settings.policySource?.path;
  let demoKey: string | undefined;
  if (!policyPath) {
    demoKey = generateApiKey();
    const demo = readFileSync(join(root, 'policy/demo.yaml'), 'utf8');
    if (!DEMO_PLACEHOLDER.test(demo))
      throw new Error('policy/demo.yaml lost its placeholder line');
    policyPath = join(stateDir, 'policy.yaml');
    writeFileSync(
      policyPath,
      demo.replace(DEMO_PLACEHOLDER, `"${apiKeySha256Hex(demoKey)}"`),
      {mode: 0o600},
    );
  }
  const policy = parsePolicy(readFileSync(policyPath, 'utf8'), policyPath);

  const emulator = await startEmulator();
  provisionForPolicy(emulator.state, policy, LOCAL_RUNTIME_ACCOUNT);
  // For `tvm import-user --local`: where the emulator is, and a key that may write
  // its Secret Manager (src/local/emulator-file.ts).
  await writeEmulatorFile(stateDir, emulator);
  const wantRedis =
    process.argv.includes('--redis') || process.env.TVM_LOCAL_REDIS === '1';
  const redis =
    wantRedis && !process.env.TVM_REDIS_URL
      ? await startRedis(join(stateDir, 'redis'))
      : undefined;

  const url = `http://${/^(0\.0\.0\.0|::)$/.test(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}`;
  const child = spawn(
    process.execPath,
    [
      '--import',
      join(root, 'scripts/listen-host.ts'),
      join(
        root,
        'node_modules/@google-cloud/functions-framework/build/src/main.js',
      ),
      '--target=tvm',
      `--port=${port}`,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        ...emulatorEnvironment(emulator),
        TVM_LOCAL_HOST: host,
        TVM_POLICY: policyPath,
        TVM_ISSUER: url,
        ...redis?.env,
      },
    },
  );
  // emulator.json names this emulator's ports: gone with it, so no command trusts a
  // port someone else may hold next.
  const forget = () => rmSync(join(stateDir, 'emulator.json'), {force: true});
  const stop = async () => {
    forget();
    child.kill('SIGTERM');
    redis?.child.kill('SIGTERM');
    await emulator.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  child.on('exit', code => {
    forget();
    redis?.child.kill('SIGTERM');
    void emulator.close().then(() => process.exit(code ?? 1));
  });

  await waitHealthy(`${url}/healthz`);
  const first = [...policy.clients.values()][0];
  const grant = first?.grants[0];
  const curl = bannerCurl(policy, url, demoKey ?? '<api key>');
  const lines = [
    '',
    'tvm is running in local mode against the built-in Google emulator.',
    `  function:  ${url}   (POST /token, GET /healthz)`,
    `  emulator:  ${emulator.url}   (metadata, OAuth 2.0, IAM Credentials, tokeninfo)`,
    `  secrets:   ${emulator.secretManagerEndpoint}   (Secret Manager, gRPC)`,
    `  policy:    ${policyPath}`,
    ...(redis
      ? [
          `  redis:     redis://127.0.0.1:${redis.port}   (shared store; private to this run, password-protected)`,
        ]
      : []),
    '',
  ];
  if (demoKey && first && grant) {
    lines.push(
      `Demo API key for client "${first.id}" (shown once; it lives only as long as this process):`,
      `  ${demoKey}`,
      '',
      'Vend a token:',
      `  ${curl}`,
      '',
      'See what a token is good for:',
      `  curl -s '${emulator.url}/tokeninfo?access_token=<access_token>'`,
      '',
    );
  } else if (curl) {
    lines.push(
      'Vend a token (with an API key of your policy):',
      `  ${curl}`,
      '',
    );
  }
  lines.push('Press Ctrl-C to stop.');
  process.stdout.write(lines.join('\n') + '\n');
}

/** A private redis-server for this run: loopback, random password, no persistence. */
async function startRedis(dir: string): Promise<{
  child: ChildProcess;
  port: number;
  env: Record<string, string>;
}> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      '--redis needs redis-server on PATH (Debian: apt-get install redis-server)',
    );
  }
  mkdirSync(dir, {recursive: true, mode: 0o700});
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise(r => srv.close(r));
  const password = randomBytes(24).toString('base64url');
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--requirepass',
      password,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
    ],
    {stdio: 'ignore'},
  );
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>(resolve => {
      const s = createConnection({port, host: '127.0.0.1'});
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 200 || child.exitCode !== null)
      throw new Error('redis-server did not start');
    await new Promise(r => setTimeout(r, 25));
  }
  return {
    child,
    port,
    env: {
      TVM_REDIS_URL: `redis://:${password}@127.0.0.1:${port}/0`,
      TVM_CACHE_KEY: randomBytes(32).toString('base64'),
    },
  };
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`the function did not become healthy at ${url}`);
}

main().catch(e => {
  if (e instanceof LocalStartError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`npm start failed: ${(e as Error).message}\n`);
  process.exit(1);
});
