/**
 * The `tvm` command line: a small table of commands, each in its own module. More
 * commands (policy explain, credential-config, token) are added to COMMANDS.
 */

import {credentialConfig} from './credential-config.ts';
import {keygen} from './keygen.ts';
import {policyCheck} from './policy-check.ts';
import {policyExplain} from './policy-explain.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  println,
  type CliIo,
  type Command,
} from './io.ts';

export type {CliIo, Command} from './io.ts';
export {EXIT_FAILED, EXIT_OK, EXIT_USAGE} from './io.ts';

const COMMANDS: readonly Command[] = [
  keygen,
  policyCheck,
  policyExplain,
  credentialConfig,
];

/**
 * Runs `tvm` with `argv` (the arguments after the program name) and resolves to the
 * exit code. Output goes only to `io`, so tests and embedders capture it; nothing here
 * calls process.exit.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    usage(io.stderr);
    return EXIT_USAGE;
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    usage(io.stdout);
    return EXIT_OK;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = COMMANDS.some(c => c.name.startsWith(`${first} `));
    println(
      io.stderr,
      group
        ? `tvm: "${first}" needs a subcommand`
        : `tvm: unknown command "${first}"`,
    );
    usage(io.stderr);
    return EXIT_USAGE;
  }
  const {command, rest} = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    println(io.stdout, `usage: tvm ${command.name} ${command.args}`.trimEnd());
    println(io.stdout, `  ${command.summary}`);
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    // parseArgs rejects unknown options and missing values with a coded TypeError.
    if (isArgError(e)) {
      println(io.stderr, `tvm ${command.name}: ${e.message}`);
      println(
        io.stderr,
        `usage: tvm ${command.name} ${command.args}`.trimEnd(),
      );
      return EXIT_USAGE;
    }
    println(
      io.stderr,
      `tvm ${command.name}: unexpected error: ${e instanceof Error ? e.message : String(e)}`,
    );
    return EXIT_FAILED;
  }
}

/** The command whose words start `argv`, the longest match winning. */
function findCommand(
  argv: readonly string[],
): {command: Command; rest: string[]} | undefined {
  let best: {command: Command; rest: string[]} | undefined;
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) {
      if (!best || words.length > best.command.name.split(' ').length) {
        best = {command, rest: argv.slice(words.length)};
      }
    }
  }
  return best;
}

function usage(out: CliIo['stdout']): void {
  println(out, 'usage: tvm <command> [options]');
  println(out);
  println(out, 'commands:');
  // One command a paragraph: usage lines are long, summaries go underneath.
  for (const c of COMMANDS) {
    println(out, `  tvm ${`${c.name} ${c.args}`.trimEnd()}`);
    println(out, `      ${c.summary}`);
  }
  println(out, '  tvm help');
  println(out, '      show this help');
  println(out);
  println(out, 'Run "tvm <command> --help" for one command.');
}

function isArgError(e: unknown): e is Error {
  return (
    e instanceof Error &&
    'code' in e &&
    typeof e.code === 'string' &&
    e.code.startsWith('ERR_PARSE_ARGS_')
  );
}
