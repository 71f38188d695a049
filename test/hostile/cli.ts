/**
 * tvm as Cloud Functions' buildpack runs it: `npm run build`'s output served by the
 * functions-framework CLI (target `tvm`, NODE_ENV=production) in its own process,
 * against the local Google emulator, with the demo policy and a fresh API key.
 *
 * The build goes to a directory of this process (under build/, ignored by git) so
 * concurrent tests never read a half-written build/.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {freePort, waitHealthy} from '../support/net.ts';

export const root = join(import.meta.dirname, '../..');
export const frameworkMain = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

/** Builds src/ as `npm run build` does, into a directory of its own; returns it. */
export function buildPrivately(): string {
  const outDir = join(root, 'build', `.test-${process.pid}`);
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      outDir,
    ],
    {cwd: root, encoding: 'utf8'},
  );
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  return outDir;
}

export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  /** The demo client's API key. */
  readonly key: string;
  /** Everything the function printed, stdout and stderr. */
  output(): string;
  stderr(): string;
  close(): Promise<void>;
}

/** Serves `outDir`'s built function through the functions-framework CLI. */
export async function serveBuilt(outDir: string): Promise<Served> {
  const emulator: Emulator = await startEmulator();
  const key = generateApiKey();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-hostile-'));
  const policyPath = join(dir, 'policy.yaml');
  const policy = readFileSync(join(root, 'policy/demo.yaml'), 'utf8').replace(
    /"0{64}"/,
    `"${apiKeySha256Hex(key)}"`,
  );
  writeFileSync(policyPath, policy);
  provisionForPolicy(
    emulator.state,
    parsePolicy(policy),
    LOCAL_RUNTIME_ACCOUNT,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      frameworkMain,
      '--target=tvm',
      `--port=${port}`,
      `--source=${join(outDir, 'src/index.js')}`,
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        NODE_ENV: 'production',
        TVM_LOCAL: '1',
        TVM_POLICY: policyPath,
        TVM_ISSUER: url,
        GCE_METADATA_HOST: emulator.metadataHost,
        TVM_IAM_CREDENTIALS_ENDPOINT: emulator.url,
        TVM_OAUTH2_TOKEN_URL: emulator.tokenUrl,
        TVM_SECRET_MANAGER_ENDPOINT: emulator.secretManagerEndpoint,
        TVM_STS_ENDPOINT: emulator.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', d => (out += String(d)));
  child.stderr!.on('data', d => {
    err += String(d);
    out += String(d);
  });
  const exited = new Promise<void>(r => child.once('exit', () => r()));
  const served: Served = {
    url,
    child,
    key,
    output: () => out,
    stderr: () => err,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await emulator.close();
      rmSync(dir, {recursive: true, force: true});
    },
  };
  try {
    await waitHealthy(`${url}/healthz`, {
      dead: () => child.exitCode !== null,
    });
  } catch (e) {
    await served.close();
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return served;
}

/** Resident and peak resident memory of process `pid`, bytes (Linux /proc). */
export function memoryOf(pid: number): {rss: number; peak: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return {rss: kb('VmRSS'), peak: kb('VmHWM')};
}

/** Resets the peak resident memory of `pid` to its current value (Linux). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
