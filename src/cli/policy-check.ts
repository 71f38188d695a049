/**
 * `tvm policy check FILE`: the same parser as the service, so a policy that passes here
 * loads there (and the other way round).
 */

import {readFile} from 'node:fs/promises';
import {parseArgs} from 'node:util';
import {PolicyError, parsePolicy} from '../policy/index.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  println,
  type CliIo,
  type Command,
} from './io.ts';

export const policyCheck: Command = {
  name: 'policy check',
  args: 'FILE',
  summary: 'validate a policy file; print every problem with its path',
  run: runPolicyCheck,
};

async function runPolicyCheck(args: string[], io: CliIo): Promise<number> {
  const {positionals} = parseArgs({
    args,
    options: {},
    strict: true,
    allowPositionals: true,
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) {
    println(io.stderr, 'usage: tvm policy check FILE');
    return EXIT_USAGE;
  }
  let text: string;
  try {
    text = await (io.readFile ?? readUtf8)(file);
  } catch (e) {
    println(io.stderr, `tvm: cannot read ${file}: ${reason(e)}`);
    return EXIT_USAGE;
  }
  try {
    const policy = parsePolicy(text, file);
    const c = policy.clients.size;
    const s = policy.serviceAccounts.size;
    println(
      io.stdout,
      `OK ${file}: ${c} client${c === 1 ? '' : 's'}, ${s} service account${s === 1 ? '' : 's'}, digest ${policy.digest.slice(0, 12)}`,
    );
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    for (const issue of e.issues) {
      println(io.stderr, `${issue.path || '(root)'}: ${issue.message}`);
    }
    const n = e.issues.length;
    println(
      io.stderr,
      `tvm: ${file} is not a valid policy (${n} problem${n === 1 ? '' : 's'})`,
    );
    return EXIT_FAILED;
  }
}

function readUtf8(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

function reason(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') {
    const known: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    };
    return known[e.code] ?? e.code;
  }
  return e instanceof Error ? e.message : String(e);
}
