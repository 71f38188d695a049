/**
 * A built tvm served by the functions-framework CLI, as Cloud Functions serves it
 * (NODE_ENV=production, only PATH and HOME of the test's environment), against the
 * emulator: for tests whose subject is the built code as it is served.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {join} from 'node:path';
import type {Emulator} from '../../emulator/src/index.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';
import {freePort, waitHealthy} from './net.ts';

const root = join(import.meta.dirname, '../..');

/** The framework's CLI, as the Node.js runtime starts it. */
export const FRAMEWORK_MAIN = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

export interface ServedFunction {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** Stops the process (SIGTERM) and waits for it to end. */
  stop(): Promise<void>;
}

/**
 * Starts target `tvm` from `source` with the emulator's environment and `env`, and
 * resolves once /healthz answers 200; everything the process prints is appended to
 * `output`. A process that does not become healthy is stopped, and the error carries
 * its output.
 */
export async function serveFunction(options: {
  readonly source: string;
  readonly emulator: Emulator;
  readonly env?: Readonly<Record<string, string>>;
  readonly output: string[];
}): Promise<ServedFunction> {
  const {output} = options;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      FRAMEWORK_MAIN,
      '--target=tvm',
      `--port=${port}`,
      `--source=${options.source}`,
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        ...emulatorEnvironment(options.emulator),
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (d: Buffer) => output.push(String(d)));
  child.stderr.on('data', (d: Buffer) => output.push(String(d)));
  const gone = new Promise(r => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
    await gone;
  };
  try {
    await waitHealthy(`${base}/healthz`, {
      tries: 600,
      detail: () => output.join(''),
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {child, base, stop};
}
