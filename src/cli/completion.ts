/**
 * `tvm completion bash|zsh`: a completion script made from the command table, so it
 * never falls behind it. Profile names come from `tvm profile list --names` at
 * completion time. zsh runs the same function through its bashcompinit layer, as
 * terraform's and other tools' zsh completions do.
 */

import {parseArgs} from 'node:util';
import {CliError} from './errors.ts';
import {EXIT_OK, type CliIo, type Command} from './io.ts';

/** The completion command over `commands()` (given lazily: main.ts owns the table). */
export function completionCommand(
  commands: () => Promise<readonly Command[]>,
): Command {
  return {
    name: 'completion',
    args: 'bash|zsh',
    summary:
      'print a shell completion script: source <(tvm completion bash), or in ~/.zshrc: source <(tvm completion zsh)',
    async run(args: string[], io: CliIo): Promise<number> {
      const {positionals} = parseArgs({
        args,
        options: {},
        strict: true,
        allowPositionals: true,
      });
      const [shell, ...rest] = positionals;
      if ((shell !== 'bash' && shell !== 'zsh') || rest.length > 0) {
        throw new CliError('ERR_USAGE', 'name the shell: bash or zsh');
      }
      const script = bashScript(await commands());
      io.stdout.write(
        shell === 'bash'
          ? script
          : `#compdef tvm\nautoload -U +X bashcompinit && bashcompinit\n${script}`,
      );
      return EXIT_OK;
    },
  };
}

function optionsOf(c: Command): string[] {
  return [...new Set(c.args.match(/--[a-z][a-z-]*/g) ?? [])].concat('--help');
}

function bashScript(commands: readonly Command[]): string {
  const first = [...new Set(commands.map(c => c.name.split(' ')[0]!))];
  const groups = new Map<string, string[]>();
  for (const c of commands) {
    const [group, sub] = c.name.split(' ');
    if (sub !== undefined)
      groups.set(group!, [...(groups.get(group!) ?? []), sub]);
  }
  const cases: string[] = [];
  // Longest names first: "policy check" must win over "policy".
  for (const c of [...commands].sort((a, b) => b.name.length - a.name.length)) {
    const words = optionsOf(c);
    if (c.name === 'completion') words.unshift('bash', 'zsh');
    // `profile show NAME`: the profile names too.
    const names =
      c.name === 'profile show'
        ? '$("${COMP_WORDS[0]}" profile list --names 2>/dev/null) '
        : '';
    cases.push(
      `    "${c.name}"|"${c.name} "*) words="${names}${words.join(' ')}" ;;`,
    );
  }
  for (const [group, subs] of groups) {
    cases.push(`    "${group}") words="${subs.join(' ')}" ;;`);
  }
  cases.push(`    "help") words="${first.join(' ')}" ;;`);
  // `--format`'s values, per command, from its usage line (`--format a|b|c`).
  const formats = commands.flatMap(c => {
    const m = /--format ([a-z]+(?:\|[a-z]+)+)/.exec(c.args);
    return m
      ? [
          `        "${c.name}"|"${c.name} "*) words="${m[1]!.split('|').join(' ')}" ;;`,
        ]
      : [];
  });
  cases.push(
    `    "") words="${[...first, 'help', '--version', '--help'].join(' ')}" ;;`,
  );
  return `# tvm completion (bash); made by "tvm completion bash"
_tvm() {
  local cur prev line words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  line="\${COMP_WORDS[*]:1:COMP_CWORD-1}"
  COMPREPLY=()
  case " $line " in
    *" -- "*) COMPREPLY=($(compgen -c -- "$cur")); return 0 ;;
  esac
  case "$prev" in
    --profile)
      COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" profile list --names 2>/dev/null)" -- "$cur")); return 0 ;;
    --format)
      case "$line" in
${formats.join('\n')}
        *) words="" ;;
      esac
      COMPREPLY=($(compgen -W "$words" -- "$cur")); return 0 ;;
    --oidc-token-type) COMPREPLY=($(compgen -W "jwt id_token" -- "$cur")); return 0 ;;
    --subject-token-type) COMPREPLY=($(compgen -W "jwt id_token api-key" -- "$cur")); return 0 ;;
    *-file|--config|--output|--policy) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
  esac
  case "$line" in
${cases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -o default -F _tvm tvm
`;
}
