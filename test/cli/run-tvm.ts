/**
 * Test support for the caller's side: runs the real bin/tvm.js in a child process, as
 * a user does, with a private HOME and XDG directories, and checks that no secret
 * appears where it must not.
 */

import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdir, mkdtemp, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'tvm.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A user's environment: its own HOME, config and cache, Node on PATH, no TVM_* leaking in. */
export async function userEnv(
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const home = await mkdtemp(join(tmpdir(), 'tvm-user-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('TVM_') && !k.startsWith('XDG_')) {
      env[k] = v;
    }
  }
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    ...extra,
  };
}

/**
 * Writes a user's configuration file directly (what `tvm profile add` writes; its own
 * tests cover the command), sparing a process per setup.
 */
export async function writeProfiles(
  env: Record<string, string>,
  profiles: Record<string, Record<string, unknown>>,
): Promise<void> {
  const dir = join(env.XDG_CONFIG_HOME!, 'tvm');
  await mkdir(dir, {recursive: true, mode: 0o700});
  await writeFile(
    join(dir, 'config.yaml'),
    JSON.stringify({profiles}), // JSON is YAML
    {mode: 0o600},
  );
}

/** Starts `tvm ...args`; `done` resolves when it exits. */
export function startTvm(
  args: readonly string[],
  env: Record<string, string>,
): {child: ChildProcess; done: Promise<Run>} {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: env.HOME,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>(resolve => {
    child.on('close', (code, signal) =>
      resolve({code, signal, stdout, stderr}),
    );
  });
  return {child, done};
}

/** Runs `tvm ...args` to the end. */
export function tvm(
  env: Record<string, string>,
  ...args: string[]
): Promise<Run> {
  return startTvm(args, env).done;
}

/** Patterns of secrets: access tokens, API keys, private keys, JWTs. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /ya29\./,
  /tvm_[A-Za-z0-9_-]{43}/,
  /PRIVATE KEY/,
  /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./,
];

/**
 * Asserts that `text` holds no secret: none of `values`, nothing that looks like a
 * token or key.
 */
export function assertNoSecret(
  text: string,
  values: readonly string[],
  where: string,
): void {
  for (const p of SECRET_PATTERNS) {
    assert.doesNotMatch(text, p, `${where} leaks something matching ${p}`);
  }
  for (const v of values) {
    if (v) assert.ok(!text.includes(v), `${where} leaks a secret value`);
  }
}
