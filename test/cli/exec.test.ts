/**
 * `tvm exec -- CMD`: the token in the variables the common tools read and in a 0600
 * file, never printed by tvm; CMD's exit code and the signals sent to tvm passed
 * through.
 */

import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {
  assertNoSecretsLogged,
  newKey,
  startStack,
  type Stack,
} from '../support/stack.ts';
import {assertNoSecret, startTvm, tvm, userEnv} from './run-tvm.ts';

const keys = {cron: newKey()};
const handedOut: string[] = [];
let s: Stack;
let env: Record<string, string>;

before(async () => {
  s = await startStack({
    keys,
    policy: `
version: 1
service_accounts:
  reporting: {email: reporting@tvm-local.iam.gserviceaccount.com}
clients:
  cron:
    api_keys: [{sha256: "{{KEY:cron}}"}]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`,
  });
  env = await userEnv();
  const file = join(env.HOME!, 'cron.key');
  await writeFile(file, keys.cron, {mode: 0o600});
  const r = await tvm(
    env,
    'profile',
    'add',
    'cron',
    '--url',
    s.url,
    '--client-id',
    'cron',
    '--api-key-file',
    file,
    '--audience',
    'reporting',
    '--scope',
    'bigquery.readonly',
  );
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** A shell script run by `tvm exec`. */
function sh(script: string) {
  return startTvm(['exec', '--', '/bin/sh', '-c', script], env);
}

void describe('tvm exec', () => {
  void test('the token in CLOUDSDK_AUTH_ACCESS_TOKEN, GOOGLE_OAUTH_ACCESS_TOKEN and a 0600 file', async () => {
    const token = (await tvm(env, 'token')).stdout.trim();
    handedOut.push(token);
    const r = await sh(
      'f="$TVM_ACCESS_TOKEN_FILE"; ' +
        '[ "$CLOUDSDK_AUTH_ACCESS_TOKEN" = "$GOOGLE_OAUTH_ACCESS_TOKEN" ] && ' +
        '[ "$(cat "$f")" = "$CLOUDSDK_AUTH_ACCESS_TOKEN" ] && ' +
        'echo "len=${#CLOUDSDK_AUTH_ACCESS_TOKEN} mode=$(stat -c %a "$f") dir=$(stat -c %a "$(dirname "$f")") file=$f"',
    ).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const m = /^len=(\d+) mode=600 dir=700 file=(\S+)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(Number(m[1]), token.length);
    assert.ok(!existsSync(m[2]!), 'the token file is removed when CMD ends');
    assertNoSecret(r.stdout + r.stderr, [token], 'exec output');
  });

  const codes = [0, 1, 3, 42, 255];
  for (const code of codes) {
    void test(`exit code ${code} passed through`, async () => {
      const r = await sh(`exit ${code}`).done;
      assert.equal(r.code, code);
      assert.equal(r.stderr, '');
    });
  }

  void test('a signal sent to tvm reaches CMD, and CMD decides the exit code', async () => {
    const run = sh(
      'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done',
    );
    await new Promise<void>(resolve => {
      run.child.stdout!.on('data', (c: Buffer) => {
        if (c.toString().includes('ready')) resolve();
      });
    });
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 7);
    assert.match(r.stdout, /got-term/);
  });

  void test('CMD ended by a signal: tvm exits 128 + its number, as a shell reports it', async () => {
    const r = await sh('kill -TERM $$').done;
    assert.equal(r.code, 143);
  });

  void test('SIGINT and SIGHUP are forwarded too', async () => {
    for (const [signal, want] of [
      ['SIGINT', 130],
      ['SIGHUP', 129],
    ] as const) {
      // CMD is the process that gets the signal (exec): a shell loop would outlive it,
      // as a shell waiting on a foreground job does when only the shell is signalled.
      const run = sh('echo ready; exec sleep 20');
      const ready = await new Promise<boolean>(resolve => {
        run.child.stdout!.on('data', (c: Buffer) => {
          if (c.toString().includes('ready')) resolve(true);
        });
        run.child.once('exit', () => resolve(false));
      });
      if (!ready) {
        const r = await run.done;
        assert.fail(`tvm exec ended before CMD ran: ${r.code} ${r.stderr}`);
      }
      run.child.kill(signal);
      const r = await run.done;
      assert.equal(r.code, want, `${signal} ${r.signal} ${r.stderr}`);
    }
  });

  void test('a command that does not exist: 127 and one line', async () => {
    const r = await tvm(env, 'exec', '--', 'no-such-command-tvm');
    assert.equal(r.code, 127);
    assert.match(
      r.stderr,
      /^tvm exec: command not found: no-such-command-tvm \(is it on PATH\?\)\n$/,
    );
  });

  void test('no command: usage, exit 2', async () => {
    const r = await tvm(env, 'exec');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /name the command after --/);
  });

  void test('a refusal stops before CMD runs', async () => {
    const r = await tvm(
      env,
      'exec',
      '--scope',
      'cloud-platform',
      '--',
      '/bin/sh',
      '-c',
      'echo ran',
    );
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /invalid_scope/);
  });

  void test('--help after -- belongs to CMD', async () => {
    const r = await tvm(
      env,
      'exec',
      '--',
      '/bin/sh',
      '-c',
      'echo "$0 $1"',
      'x',
      '--help',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'x --help\n');
  });
});
