/**
 * A private redis-server for one test file: Debian's binary on a free loopback port,
 * AUTH on (a fresh random password), no persistence, in a temporary directory; never
 * a shared one. Stop, restart on the same port, pause (SIGSTOP: a Redis that answers
 * nothing) and resume, for the fault tests.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {createServer, createConnection, type AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

export interface TestRedis {
  readonly port: number;
  readonly password: string;
  /** `redis://:PASSWORD@127.0.0.1:PORT/0` */
  readonly url: string;
  /** Runs redis-cli against it (AUTH included); returns its stdout. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
  /** Freezes the process: connections stay open, nothing is answered. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** True when redis-server is on PATH (.ci/run installs it). */
export function haveRedis(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'tvm-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
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
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      {stdio: 'ignore'},
    );
    for (let i = 0; i < 200; i++) {
      if (await listening(port)) return;
      await new Promise(r => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not listen on ${port}`);
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGCONT');
    const exited = new Promise(r => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    port,
    password,
    url: `redis://:${password}@127.0.0.1:${port}/0`,
    cli: (...args) =>
      spawnSync(
        'redis-cli',
        ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', ...args],
        {encoding: 'utf8', env: {...process.env, REDISCLI_AUTH: password}},
      ).stdout,
    stop,
    start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      await stop();
      rmSync(dir, {recursive: true, force: true});
    },
  };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise(r => srv.close(r));
  return port;
}

function listening(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createConnection({port, host: '127.0.0.1'});
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
