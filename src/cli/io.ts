import {open} from 'node:fs/promises';

/**
 * What a command may touch, passed in so tests (and embedders) can supply their own:
 * `process` itself satisfies this interface.
 */
export interface CliIo {
  readonly stdout: {write(chunk: string): unknown};
  readonly stderr: {write(chunk: string): unknown};
  /** Reads a file as UTF-8; default: node:fs. */
  readonly readFile?: (path: string) => Promise<string>;
  /** The clock, epoch milliseconds; default: Date.now. */
  readonly now?: () => number;
  /** Writes a file (UTF-8, the given mode); default: node:fs. */
  readonly writeFile?: (
    path: string,
    text: string,
    mode: number,
  ) => Promise<void>;
  /** The environment; default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Exit codes, as sysexits-minded tools use them: 1 a negative result, 2 a usage error. */
export const EXIT_OK = 0;
/** The command ran and the answer is "no" (e.g. the policy is invalid). */
export const EXIT_FAILED = 1;
/** The command could not run as asked: bad arguments, unreadable input. */
export const EXIT_USAGE = 2;

/** A command of the `tvm` tool. */
export interface Command {
  /** The words that select it, e.g. `policy check`. */
  readonly name: string;
  /** Arguments for the usage line, e.g. `FILE`. */
  readonly args: string;
  /** One line for `tvm help`. */
  readonly summary: string;
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Writes a line. */
export function println(out: CliIo['stdout'], line = ''): void {
  out.write(`${line}\n`);
}

/**
 * The first `limit` bytes of `file` (fewer when it ends sooner), whatever it is: a
 * pipe, a device or a /proc file reports no size, so the size is never trusted.
 */
export async function readAtMost(file: string, limit: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    let length = 0;
    while (length < limit) {
      const {bytesRead} = await handle.read(buffer, length, limit - length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
