/**
 * The `tvm` command line: a small table of commands, each in its own module, and the
 * one place where a command's CliError becomes a line on stderr and an exit code.
 */

import {readFileSync} from 'node:fs';
import {CliError, suggestion} from './errors.ts';
import {CALLER_VARIABLES} from './variables.ts';
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

/**
 * The commands by name, each module loaded only when it runs (or for help): a script
 * calling `tvm token` on every line must not pay for the policy compiler and the
 * OIDC verifier that other commands need.
 */
interface Entry {
  readonly name: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: readonly Entry[] = [
  {name: 'token', load: async () => (await import('./token.ts')).token},
  {name: 'exec', load: async () => (await import('./exec.ts')).exec},
  {
    name: 'profile add',
    load: async () => (await import('./profile.ts')).profileAdd,
  },
  {
    name: 'profile list',
    load: async () => (await import('./profile.ts')).profileList,
  },
  {
    name: 'profile show',
    load: async () => (await import('./profile.ts')).profileShow,
  },
  {
    name: 'credential-config',
    load: async () => (await import('./credential-config.ts')).credentialConfig,
  },
  {
    name: 'subject-token',
    load: async () => (await import('./executable.ts')).subjectToken,
  },
  {name: 'keygen', load: async () => (await import('./keygen.ts')).keygen},
  {
    name: 'import-user',
    load: async () => (await import('./import-user.ts')).importUser,
  },
  {
    name: 'policy check',
    load: async () => (await import('./policy-check.ts')).policyCheck,
  },
  {
    name: 'policy explain',
    load: async () => (await import('./policy-explain.ts')).policyExplain,
  },
  {
    name: 'completion',
    load: async () =>
      (await import('./completion.ts')).completionCommand(allCommands),
  },
];

/** Every command, loaded (for help and completion). */
function allCommands(): Promise<Command[]> {
  return Promise.all(COMMANDS.map(c => c.load()));
}

/**
 * Runs `tvm` with `argv` (the arguments after the program name) and resolves to the
 * exit code. Output goes only to `io`, so tests and embedders capture it; nothing here
 * calls process.exit.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    await usage(io.stderr);
    return EXIT_USAGE;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    println(io.stdout, `tvm ${version()}`);
    return EXIT_OK;
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    if (first === 'help' && argv.length > 1) {
      const found = findCommand(argv.slice(1));
      if (found && found.rest.length === 0) {
        commandHelp(await found.entry.load(), io.stdout);
        return EXIT_OK;
      }
      return unknown(argv.slice(1), io);
    }
    await usage(io.stdout);
    return EXIT_OK;
  }
  const found = findCommand(argv);
  if (!found) return unknown(argv, io);
  const {rest} = found;
  const command = await found.entry.load();
  // Everything after exec's "--" belongs to the command it runs.
  const own =
    command.name === 'exec' ? rest.slice(0, rest.indexOf('--') >>> 0) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    commandHelp(command, io.stdout);
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      println(io.stderr, `tvm ${command.name}: ${e.message}`);
      return e.exitCode;
    }
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
): {entry: Entry; rest: string[]} | undefined {
  let best: {entry: Entry; rest: string[]} | undefined;
  for (const entry of COMMANDS) {
    const words = entry.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) {
      if (!best || words.length > best.entry.name.split(' ').length) {
        best = {entry, rest: argv.slice(words.length)};
      }
    }
  }
  return best;
}

/** An unknown command or subcommand: say so, suggest the closest, exit 2. */
async function unknown(argv: readonly string[], io: CliIo): Promise<number> {
  const [first = '', second] = argv;
  const subs = COMMANDS.filter(c => c.name.startsWith(`${first} `)).map(
    c => c.name.split(' ')[1]!,
  );
  if (subs.length > 0) {
    println(
      io.stderr,
      second === undefined || second.startsWith('-')
        ? `tvm: "${first}" needs a subcommand: ${subs.join(', ')}`
        : `tvm: "${first}" needs a subcommand: unknown "${second}"${suggestion(second, subs)}; one of ${subs.join(', ')}`,
    );
  } else {
    const words = [...new Set(COMMANDS.map(c => c.name.split(' ')[0]!))];
    println(
      io.stderr,
      `tvm: unknown command "${first}"${suggestion(first, [...words, 'help'])}; "tvm help" lists them`,
    );
  }
  await usage(io.stderr);
  return EXIT_USAGE;
}

function commandHelp(command: Command, out: CliIo['stdout']): void {
  println(out, `usage: tvm ${command.name} ${command.args}`.trimEnd());
  println(out, `  ${command.summary}`);
}

/** The package's version, from its package.json (src/cli or build/src/cli below it). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(
        readFileSync(new URL(rel, import.meta.url), 'utf8'),
      ) as {name?: unknown; version?: unknown};
      if (pkg.name === 'gcp-token-vending-machine') return String(pkg.version);
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

async function usage(out: CliIo['stdout']): Promise<void> {
  println(out, 'usage: tvm <command> [options]');
  println(out);
  println(out, 'commands:');
  // One command a paragraph: usage lines are long, summaries go underneath.
  for (const c of await allCommands()) {
    println(out, `  tvm ${`${c.name} ${c.args}`.trimEnd()}`);
    println(out, `      ${c.summary}`);
  }
  println(out, '  tvm help [COMMAND]');
  println(out, "      show this help, or one command's");
  println(out, '  tvm --version');
  println(out, '      print the version');
  println(out);
  println(out, 'environment:');
  for (const [name, help] of Object.entries(CALLER_VARIABLES)) {
    println(out, `  ${name}: ${help}`);
  }
  println(out);
  println(
    out,
    'Run "tvm help <command>" (or "tvm <command> --help") for one command.',
  );
}

function isArgError(e: unknown): e is Error {
  return (
    e instanceof Error &&
    'code' in e &&
    typeof e.code === 'string' &&
    e.code.startsWith('ERR_PARSE_ARGS_')
  );
}
