/**
 * The CLI's one error model: a failure the user can act on, with a code (tests assert
 * it), the exit code, and a one-line message that says what to do next. main.ts is
 * the one place that prints it. Messages never carry a secret: they name files,
 * variables and profiles, never their contents.
 */

import {EXIT_FAILED, EXIT_USAGE} from './io.ts';

export type CliErrorCode =
  | 'ERR_CONFIG' // the configuration file is unreadable or invalid
  | 'ERR_PROFILE' // no such profile, or none chosen
  | 'ERR_SECRET' // a secret file or variable is missing, empty or readable by others
  | 'ERR_SUBJECT_TOKEN' // the OIDC token source failed
  | 'ERR_DENIED' // tvm answered with an OAuth error
  | 'ERR_UNREACHABLE' // tvm could not be reached or answered something unexpected
  | 'ERR_CACHE' // the token cache could not be used
  | 'ERR_SECRET_MANAGER' // Secret Manager (or the local emulator) refused or failed
  | 'ERR_USAGE'; // arguments the command cannot run with

/** A failure reported as one line on stderr; see the file comment. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, exitCode?: number) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode =
      exitCode ??
      (code === 'ERR_USAGE' || code === 'ERR_PROFILE' || code === 'ERR_CONFIG'
        ? EXIT_USAGE
        : EXIT_FAILED);
  }
}

/** The short reason of a file-system error ("no such file", "permission denied"). */
export function fsReason(e: unknown): string {
  const code = (e as {code?: unknown}).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return typeof code === 'string'
        ? code
        : e instanceof Error
          ? e.message
          : String(e);
  }
}

/**
 * Edit distance counting a swap of neighbours as one edit (optimal string alignment),
 * for "did you mean": written by hand because it is a dozen lines and no dependency of
 * the project offers it.
 */
function distance(a: string, b: string): number {
  const d = Array.from({length: a.length + 1}, (_, i) =>
    Array.from({length: b.length + 1}, (_, j) =>
      i === 0 ? j : j === 0 ? i : 0,
    ),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(
        d[i - 1]![j]! + 1,
        row[j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `candidates` to `word` when it is close enough to be a typo. */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
): string | undefined {
  let best: {name: string; d: number} | undefined;
  for (const name of candidates) {
    const d = distance(word.toLowerCase(), name.toLowerCase());
    if (!best || d < best.d) best = {name, d};
  }
  if (!best) return undefined;
  const limit = Math.max(1, Math.floor(Math.max(word.length, 3) / 3));
  return best.d <= limit || best.name.startsWith(word) ? best.name : undefined;
}

/** ` (did you mean "x"?)`, or nothing. */
export function suggestion(word: string, candidates: Iterable<string>): string {
  const s = didYouMean(word, candidates);
  return s === undefined ? '' : ` (did you mean "${s}"?)`;
}
