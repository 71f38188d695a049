/**
 * Finding one's way: --version, help for one command, "did you mean" for a mistyped
 * command, and the bash/zsh completion scripts, exercised in a real bash.
 */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync, spawnSync} from 'node:child_process';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {BIN, ROOT, tvm, userEnv} from './run-tvm.ts';

void describe('tvm help and completion', () => {
  void test('--version prints the package version', async () => {
    const pkg = JSON.parse(
      await readFile(join(ROOT, 'package.json'), 'utf8'),
    ) as {version: string};
    for (const flag of ['--version', '-V']) {
      const r = await tvm(await userEnv(), flag);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `tvm ${pkg.version}\n`);
    }
  });

  const cases: Array<{
    name: string;
    args: string[];
    code: number;
    out: 'stdout' | 'stderr';
    want: RegExp;
  }> = [
    {
      name: 'help COMMAND',
      args: ['help', 'token'],
      code: 0,
      out: 'stdout',
      want: /^usage: tvm token \[--profile NAME\].*\n {2}print an access token/,
    },
    {
      name: 'help of a two-word command',
      args: ['help', 'profile', 'add'],
      code: 0,
      out: 'stdout',
      want: /^usage: tvm profile add NAME --url URL/,
    },
    {
      name: 'help of policy explain: the overview formats and the question',
      args: ['help', 'policy', 'explain'],
      code: 0,
      out: 'stdout',
      want: /^usage: tvm policy explain \(FILE \| --policy FILE\) \[--client ID\] \[--format table\|json\|dot\] {2}\| {2}.*--audience SA.*\n {2}without --audience: who may become whom/,
    },
    {
      name: 'a mistyped command',
      args: ['tokne'],
      code: 2,
      out: 'stderr',
      want: /^tvm: unknown command "tokne" \(did you mean "token"\?\); "tvm help" lists them\n/,
    },
    {
      name: 'a mistyped subcommand',
      args: ['profile', 'lsit'],
      code: 2,
      out: 'stderr',
      want: /^tvm: "profile" needs a subcommand: unknown "lsit" \(did you mean "list"\?\); one of add, list, show\n/,
    },
    {
      name: 'help for a mistyped command',
      args: ['help', 'exce'],
      code: 2,
      out: 'stderr',
      want: /did you mean "exec"/,
    },
    {
      name: 'nothing close',
      args: ['frobnicate'],
      code: 2,
      out: 'stderr',
      want: /^tvm: unknown command "frobnicate"; "tvm help" lists them\n/,
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const r = await tvm(await userEnv(), ...c.args);
      assert.equal(r.code, c.code, r.stderr);
      assert.match(r[c.out], c.want);
    });
  }

  void test("tvm help lists the environment variables of the caller's side", async () => {
    const r = await tvm(await userEnv(), 'help');
    assert.match(
      r.stdout,
      /^environment:\n {2}TVM_CONFIG: .*\n {2}TVM_PROFILE: .*\n {2}TVM_ACCESS_TOKEN_FILE: /m,
    );
  });

  void test('bash completion: commands, subcommands, options and profile names', async () => {
    const env = await userEnv();
    const bin = join(env.HOME!, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'tvm'),
      `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`,
      {mode: 0o755},
    );
    env.PATH = `${bin}:${env.PATH}`;
    await tvm(
      env,
      'profile',
      'add',
      'nightly',
      '--url',
      'https://t.test',
      '--oidc-token-file',
      '/t',
    );
    await tvm(
      env,
      'profile',
      'add',
      'partner',
      '--url',
      'https://t.test',
      '--oidc-token-file',
      '/t',
    );
    const script = (await tvm(env, 'completion', 'bash')).stdout;
    const complete = (...words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tvm; echo "\${COMPREPLY[*]}"`,
        ],
        {env, encoding: 'utf8'},
      ).trim();
    assert.equal(complete('tvm', 'to'), 'token');
    assert.equal(complete('tvm', 'profile', ''), 'add list show');
    assert.equal(complete('tvm', 'token', '--f'), '--format');
    assert.equal(complete('tvm', 'token', '--format', ''), 'text json');
    assert.equal(
      complete('tvm', 'policy', 'explain', 'p.yaml', '--format', ''),
      'table json dot',
    );
    assert.equal(complete('tvm', 'policy', 'explain', '--f'), '--format');
    assert.equal(complete('tvm', 'token', '--profile', 'n'), 'nightly');
    assert.equal(complete('tvm', 'exec', '--profile', ''), 'nightly partner');
    assert.match(
      complete('tvm', 'profile', 'add', 'x', '--oidc'),
      /^--oidc-token-file --oidc-token-url --oidc-token-command --oidc-token-type$/,
    );
    assert.equal(complete('tvm', 'help', 'ke'), 'keygen');
    assert.equal(complete('tvm', 'profile', 'show', 'p'), 'partner');
  });

  void test('zsh completion: the same function through bashcompinit', async () => {
    const r = await tvm(await userEnv(), 'completion', 'zsh');
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^#compdef tvm\nautoload -U \+X bashcompinit && bashcompinit\n/,
    );
    const zsh = spawnSync('zsh', ['-c', `${r.stdout}\nwhence -w _tvm`], {
      encoding: 'utf8',
    });
    // .ci/run installs Debian's zsh: a missing zsh fails here rather than skipping.
    assert.equal(zsh.error, undefined, 'zsh is not installed');
    assert.equal(zsh.status, 0, zsh.stderr);
    assert.match(zsh.stdout, /_tvm: function/);
  });

  void test('completion for an unknown shell: usage', async () => {
    const r = await tvm(await userEnv(), 'completion', 'fish');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /name the shell: bash or zsh/);
  });
});
