/**
 * A memory limit for the bench's servers, as a Cloud Function instance has one: each
 * server runs in a memory cgroup of its own with the function's `available_memory`
 * (the Terraform module's default, 512 MiB). Node sizes V8's heap from that limit (its
 * old generation, and with it how far the young generation may grow), so a server
 * started without it sizes its heap for the whole machine instead, and its RSS under
 * load says more about this machine's memory than about the function's.
 *
 * Works where cgroups can be written (root, cgroup v1 or a delegated v2 hierarchy);
 * elsewhere `limitMemory` says why not and the bench runs without a limit, saying so.
 */
import {spawnSync} from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import {join} from 'node:path';

export interface MemoryLimit {
  readonly bytes: number;
  /** Where the cgroups are made: `cgroup v1 <dir>` or `cgroup v2 <dir>`. */
  readonly where: string;
  /**
   * The command that runs `command args` inside a new cgroup limited to `bytes`: a
   * shell that moves itself into it and then execs the command (same pid), so the
   * limit holds from the process's first instruction.
   */
  wrap(
    command: string,
    args: readonly string[],
  ): {command: string; args: string[]; release(): void};
}

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup';

/** This process's path in the v1 memory hierarchy (`4:memory:/a/b`). */
function ownMemoryPath(): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path !== undefined && controllers!.split(',').includes('memory')) {
      return path;
    }
  }
  return '/';
}

/**
 * Cgroups made and not yet removed: removed as the bench exits (not when a signal
 * kills it; then they are left empty, for the system or the next run's owner).
 */
const made = new Set<string>();
const remove = (dir: string): void => {
  try {
    rmdirSync(dir);
    made.delete(dir);
  } catch {
    // still in use by a process that has not been reaped: left for the system
  }
};
process.once('exit', () => {
  for (const dir of made) remove(dir);
});

export function limitMemory(bytes: number): MemoryLimit | {reason: string} {
  if (!Number.isSafeInteger(bytes) || bytes % 2 ** 20 || bytes < 64 * 2 ** 20) {
    throw new Error(
      `memory limit: not a whole number of MiB from 64: ${bytes}`,
    );
  }
  let parent: string;
  let limitFile: string;
  let where: string;
  if (existsSync(join(V1, 'memory.limit_in_bytes'))) {
    parent = join(V1, ownMemoryPath());
    limitFile = 'memory.limit_in_bytes';
    where = `cgroup v1 ${parent}`;
  } else if (existsSync(join(V2, 'cgroup.controllers'))) {
    // A v2 child gets a memory controller only where the parent delegates it; the
    // root delegates to its children, and a process may move into any of them as root.
    parent = V2;
    limitFile = 'memory.max';
    where = `cgroup v2 ${parent}`;
    const delegated = readFileSync(join(V2, 'cgroup.subtree_control'), 'utf8');
    if (!delegated.split(/\s+/).includes('memory'))
      return {reason: 'cgroup v2 without the memory controller delegated'};
  } else {
    return {reason: 'no memory cgroup hierarchy'};
  }
  let count = 0;
  const make = (): string => {
    const dir = join(parent, `tvm-bench-${process.pid}-${count++}`);
    mkdirSync(dir);
    made.add(dir);
    try {
      writeFileSync(join(dir, limitFile), String(bytes));
    } catch (e) {
      remove(dir);
      throw e;
    }
    return dir;
  };
  // The probe: a cgroup made, limited, and a process moved into it (where a cgroup can
  // be made but not entered, the servers would fail to start).
  try {
    const dir = make();
    const moved = spawnSync('/bin/sh', [
      '-c',
      'echo $$ > "$0"',
      join(dir, 'cgroup.procs'),
    ]);
    remove(dir);
    if (moved.status !== 0) {
      return {
        reason: `cannot move a process into a cgroup in ${parent}: ${String(moved.stderr).trim()}`,
      };
    }
  } catch (e) {
    return {
      reason: `cannot make a cgroup in ${parent}: ${(e as Error).message}`,
    };
  }
  return {
    bytes,
    where,
    wrap(command, args) {
      const dir = make();
      return {
        command: '/bin/sh',
        args: [
          '-c',
          'echo $$ > "$0" && exec "$@"',
          join(dir, 'cgroup.procs'),
          command,
          ...args,
        ],
        release: () => remove(dir),
      };
    },
  };
}
