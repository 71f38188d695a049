/**
 * A fleet: the emulator in this process, and N tvm instances, each its own
 * functions-framework process serving src/index.ts exactly as Cloud Functions does,
 * all against one emulator and (optionally) one Redis. Each instance's stdout and
 * stderr are kept, so tests can read its audit and operator lines and check that it
 * neither crashed nor left an unhandled rejection.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {allLogs, renderPolicy} from './stack.ts';
import {freePort, waitHealthy} from './net.ts';

const root = join(import.meta.dirname, '../..');
const framework = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

export interface Instance {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Parsed JSON lines of stdout. */
  readonly logs: Record<string, unknown>[];
  /** Everything that was not a JSON line (stderr included). */
  readonly other: string[];
  exited(): boolean;
}

export interface Fleet {
  readonly emulator: Emulator;
  readonly instances: readonly Instance[];
  readonly policyPath: string;
  /** Rewrites the policy file (the instances re-read it on their refresh interval). */
  writePolicy(policy: string): void;
  close(): Promise<void>;
}

export async function startFleet(options: {
  policy: string;
  keys?: Record<string, string>;
  size?: number;
  env?: Record<string, string>;
  /** More environment for instance `i` (0-based). */
  envOf?: (i: number) => Record<string, string>;
}): Promise<Fleet> {
  const emulator = await startEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-fleet-'));
  const policyPath = join(dir, 'policy.yaml');
  const writePolicy = (policy: string) => {
    const text = renderPolicy(policy, options.keys);
    provisionForPolicy(
      emulator.state,
      parsePolicy(text),
      LOCAL_RUNTIME_ACCOUNT,
    );
    writeFileSync(policyPath, text);
  };
  writePolicy(options.policy);
  const instances: Instance[] = [];
  for (let i = 0; i < (options.size ?? 2); i++) {
    const port = await freePort();
    const name = String.fromCharCode(65 + i);
    const child = spawn(
      process.execPath,
      [
        framework,
        '--target=tvm',
        `--port=${port}`,
        `--source=${join(root, 'src/index.ts')}`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'production',
          ...emulatorEnvironment(emulator),
          TVM_POLICY: policyPath,
          TVM_LOG_LEVEL: 'debug',
          ...options.env,
          ...options.envOf?.(i),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const logs: Record<string, unknown>[] = [];
    const other: string[] = [];
    const lines = (chunk: Buffer, pending: {rest: string}) => {
      const text = pending.rest + String(chunk);
      const parts = text.split('\n');
      pending.rest = parts.pop()!;
      for (const line of parts) {
        if (!line) continue;
        allLogs.push(line);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          other.push(line);
        }
      }
    };
    const out = {rest: ''};
    const err = {rest: ''};
    child.stdout!.on('data', (c: Buffer) => lines(c, out));
    child.stderr!.on('data', (c: Buffer) => lines(c, err));
    instances.push({
      name,
      url: `http://127.0.0.1:${port}`,
      child,
      logs,
      other,
      exited: () => child.exitCode !== null || child.signalCode !== null,
    });
  }
  for (const inst of instances) await waitHealthy(`${inst.url}/healthz`);
  return {
    emulator,
    instances,
    policyPath,
    writePolicy,
    async close() {
      for (const inst of instances) {
        if (inst.exited()) continue;
        const gone = new Promise(r => inst.child.once('exit', r));
        inst.child.kill('SIGTERM');
        await gone;
      }
      await emulator.close();
    },
  };
}

/** Operator (non-audit) lines of `inst` whose message matches `re`. */
export function operatorLines(inst: Instance, re: RegExp): string[] {
  return inst.logs
    .filter(l => l.audit === undefined && re.test(String(l.message)))
    .map(l => String(l.message));
}

/** A policy for fleet tests: `app` (an API key) and `partner` (private_key_jwt with `jwks`). */
export const policy = (jwks: string) => `
version: 1
service_accounts:
  one:
    email: one@tvm-local.iam.gserviceaccount.com
  two:
    email: two@tvm-local.iam.gserviceaccount.com
  three:
    email: three@tvm-local.iam.gserviceaccount.com
  four:
    email: four@tvm-local.iam.gserviceaccount.com
clients:
  app:
    api_keys:
      - sha256: "{{KEY:app}}"
    allow:
      - service_account: one
        scopes: [cloud-platform]
      - service_account: two
        scopes: [cloud-platform]
      - service_account: three
        scopes: [cloud-platform]
      - service_account: four
        scopes: [cloud-platform]
  partner:
    private_key_jwt:
      jwks: {"keys": [${jwks}]}
    allow:
      - service_account: one
        scopes: [cloud-platform]
`;

/** Waits until every instance logged its connection to the store. */
export async function waitConnected(f: Fleet): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (
      f.instances.every(inst =>
        inst.logs.some(l => /shared store connected/.test(String(l.message))),
      )
    )
      return;
    await new Promise(r => setTimeout(r, 25));
  }
  throw new Error('the instances did not connect to the shared store');
}

/** Runs `n` calls with at most `width` in flight; returns their results in order. */
export async function pool<T>(
  n: number,
  width: number,
  call: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({length: width}, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await call(i);
      }
    }),
  );
  return out;
}

/** The first defined value of `look()` within 2 s (log lines arrive through a pipe). */
export async function eventually<T>(
  look: () => T | undefined,
): Promise<T | undefined> {
  for (let i = 0; i < 80; i++) {
    const v = look();
    if (v !== undefined) return v;
    await new Promise(r => setTimeout(r, 25));
  }
  return undefined;
}
