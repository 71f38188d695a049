/**
 * A private redis-server for one test file: Debian's binary on a free loopback port,
 * AUTH on (a fresh random password), no persistence, in a temporary directory; never
 * a shared one. Stop, restart on the same port, pause (SIGSTOP: a Redis that answers
 * nothing) and resume, for the fault tests. With `tls`, it speaks only TLS (as
 * Memorystore with in-transit encryption does), with a server certificate for
 * 127.0.0.1 issued by a throwaway CA made for it (openssl: node:crypto reads X.509
 * certificates but does not issue them).
 */
import {
  execFileSync,
  spawn,
  spawnSync,
  type ChildProcess,
} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createConnection} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {freePort} from './net.ts';

export interface TestRedis {
  readonly port: number;
  readonly password: string;
  /** `redis://:PASSWORD@127.0.0.1:PORT/0`, or `rediss://...` with `tls`. */
  readonly url: string;
  /** With `tls`: the PEM certificate of the CA that issued the server's certificate. */
  readonly ca: string | undefined;
  /** The redis-server process id while it runs (for its CPU time in the bench). */
  pid(): number | undefined;
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

/** True when openssl is on PATH (.ci/run installs it), for `startRedis({tls: true})`. */
export function haveOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

/** A throwaway CA, valid for a day: its PEM certificate and private key. */
export interface TestCa {
  readonly cert: string;
  readonly key: string;
}

/** Makes a throwaway CA (P-256) in `dir`. */
export function makeCa(dir: string, name = 'tvm test CA'): TestCa {
  const certFile = join(dir, `${name.replace(/\W+/g, '-')}.crt`);
  const keyFile = join(dir, `${name.replace(/\W+/g, '-')}.key`);
  openssl(
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  };
}

/** Issues a server certificate for 127.0.0.1 (and localhost) from `ca`; returns file paths. */
function issueServerCert(
  dir: string,
  ca: TestCa,
): {cert: string; key: string; ca: string} {
  const f = (n: string) => join(dir, n);
  writeFileSync(f('ca.crt'), ca.cert);
  writeFileSync(f('ca.key'), ca.key, {mode: 0o600});
  writeFileSync(
    f('server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.crt'),
  );
  return {cert: f('server.crt'), key: f('server.key'), ca: f('ca.crt')};
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']});
}

export async function startRedis(
  options: {tls?: boolean} = {},
): Promise<TestRedis> {
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'tvm-redis-'));
  let child: ChildProcess | undefined;
  const ca = options.tls ? makeCa(dir) : undefined;
  const files = ca ? issueServerCert(dir, ca) : undefined;
  // TLS only: no plain port, and no client certificate asked (Memorystore asks none).
  const listen = files
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        files.cert,
        '--tls-key-file',
        files.key,
        '--tls-ca-cert-file',
        files.ca,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];

  const start = async () => {
    child = spawn(
      'redis-server',
      [
        ...listen,
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
    url: `${files ? 'rediss' : 'redis'}://:${password}@127.0.0.1:${port}/0`,
    ca: ca?.cert,
    pid: () => child?.pid,
    cli: (...args) =>
      spawnSync(
        'redis-cli',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          ...(files ? ['--tls', '--cacert', files.ca] : []),
          '--no-auth-warning',
          ...args,
        ],
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
