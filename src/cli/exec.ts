/**
 * `tvm exec [options] -- CMD [ARG...]`: runs CMD with a fresh token where the common
 * tools look for one — CLOUDSDK_AUTH_ACCESS_TOKEN (gcloud, bq, gsutil),
 * GOOGLE_OAUTH_ACCESS_TOKEN (the Terraform provider), and TVM_ACCESS_TOKEN_FILE, a
 * file of mode 0600 in a private directory for tools that take --access-token-file.
 * tvm never prints the token. Signals sent to tvm are passed to CMD, and tvm exits
 * with CMD's exit code (128 + the signal's number when a signal ended it, as shells
 * report it). The token file is removed when CMD ends.
 */

import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {constants, tmpdir} from 'node:os';
import {join} from 'node:path';
import {parseArgs} from 'node:util';
import {CliError} from './errors.ts';
import type {CliIo, Command} from './io.ts';
import {envOf, REQUEST_ARGS, REQUEST_OPTIONS, tokenFor} from './token.ts';

export const exec: Command = {
  name: 'exec',
  args: `${REQUEST_ARGS} -- CMD [ARG...]`,
  summary:
    'run CMD with a token in CLOUDSDK_AUTH_ACCESS_TOKEN, GOOGLE_OAUTH_ACCESS_TOKEN and TVM_ACCESS_TOKEN_FILE',
  run: runExec,
};

/** Signals a terminal or a supervisor sends that CMD must see. */
const FORWARDED: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

async function runExec(args: string[], io: CliIo): Promise<number> {
  const dash = args.indexOf('--');
  if (dash < 0 || dash === args.length - 1) {
    throw new CliError(
      'ERR_USAGE',
      'name the command after --, e.g. tvm exec -- gcloud storage ls',
    );
  }
  const {values} = parseArgs({
    args: args.slice(0, dash),
    options: REQUEST_OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  const [cmd, ...cmdArgs] = args.slice(dash + 1) as [string, ...string[]];
  const token = await tokenFor(values, io);
  // Signals are CMD's from before it starts until its token file is gone: a signal
  // that found tvm with the default action would end tvm and leave CMD running, or
  // leave the file behind.
  const signals = forwardSignals();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'tvm-exec-'));
    try {
      const file = join(dir, 'access-token');
      await writeFile(file, token.accessToken, {mode: 0o600, flag: 'wx'});
      const env = {
        ...envOf(io, values),
        CLOUDSDK_AUTH_ACCESS_TOKEN: token.accessToken,
        GOOGLE_OAUTH_ACCESS_TOKEN: token.accessToken,
        TVM_ACCESS_TOKEN_FILE: file,
      };
      return await run(cmd, cmdArgs, env, signals);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  } finally {
    signals.release();
  }
}

interface Forwarding {
  /** From now on, signals go to `child`; those that came before it, at once. */
  to(child: ChildProcess): void;
  /** Stops catching signals. */
  release(): void;
}

/**
 * Catches the signals CMD must see and passes them on. From a terminal, Ctrl-C and
 * Ctrl-\ reach the whole foreground process group, CMD included: those are not sent
 * a second time (a second interrupt means "stop now" to many tools), only caught.
 */
function forwardSignals(): Forwarding {
  const fromTerminal = process.stdin.isTTY === true;
  const pending: NodeJS.Signals[] = [];
  let target: ChildProcess | undefined;
  const forward = (signal: NodeJS.Signals) => {
    if (fromTerminal && (signal === 'SIGINT' || signal === 'SIGQUIT')) return;
    if (target === undefined) pending.push(signal);
    else if (target.exitCode === null && target.signalCode === null) {
      target.kill(signal);
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  return {
    to(child) {
      target = child;
      for (const s of pending.splice(0)) child.kill(s);
    },
    release() {
      for (const s of FORWARDED) process.off(s, forward);
    },
  };
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string | undefined>,
  signals: Forwarding,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {stdio: 'inherit', env});
    signals.to(child);
    child.once('error', e => {
      const code = (e as {code?: unknown}).code;
      reject(
        new CliError(
          'ERR_USAGE',
          code === 'ENOENT'
            ? `command not found: ${cmd} (is it on PATH?)`
            : `cannot run ${cmd}: ${String(code ?? e.message)}`,
          code === 'ENOENT' ? 127 : 126,
        ),
      );
    });
    child.once('exit', (code, signal) => {
      resolve(
        signal !== null ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1),
      );
    });
  });
}
