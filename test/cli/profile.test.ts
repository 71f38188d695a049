/**
 * `tvm profile add|list|show` as a user runs them: the configuration file under
 * XDG_CONFIG_HOME (or TVM_CONFIG), secret files held to mode 0600, no secret printed.
 */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {chmod, mkdir, readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {generateApiKey} from '../../src/auth/api-key.ts';
import {assertNoSecret, tvm, userEnv} from './run-tvm.ts';

const URL = 'https://tvm.example.test';

async function withKeyFile(env: Record<string, string>, mode = 0o600) {
  const key = generateApiKey();
  const dir = join(env.HOME!, 'keys');
  await mkdir(dir, {recursive: true});
  const file = join(dir, 'cron.key');
  await writeFile(file, `${key}\n`, {mode});
  await chmod(file, mode);
  return {key, file};
}

void describe('tvm profile', () => {
  void test('add, list and show: the file is written 0600 and no secret is printed', async () => {
    const env = await userEnv();
    const {key, file} = await withKeyFile(env);
    const add = await tvm(
      env,
      'profile',
      'add',
      'cron',
      '--url',
      URL,
      '--client-id',
      'nightly-export',
      '--api-key-file',
      file,
      '--audience',
      'reporting',
      '--scope',
      'bigquery.readonly',
      '--lifetime',
      '600',
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stderr, /added profile cron .*\(the default\)/);
    const configFile = join(env.XDG_CONFIG_HOME!, 'tvm', 'config.yaml');
    assert.equal((await stat(configFile)).mode & 0o777, 0o600);
    const text = await readFile(configFile, 'utf8');
    assert.ok(!text.includes(key), 'the config file names the key file only');
    assert.match(text, /api_key_file: .*cron\.key/);

    const list = await tvm(env, 'profile', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(
      list.stdout,
      /^\* cron {2}https:\/\/tvm\.example\.test {2}client nightly-export, API key in file .*cron\.key$/m,
    );
    const names = await tvm(env, 'profile', 'list', '--names');
    assert.equal(names.stdout, 'cron\n');

    const show = await tvm(env, 'profile', 'show', 'cron');
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^secret: +present, mode 0600$/m);
    assert.match(show.stdout, /^scopes: +bigquery\.readonly$/m);
    assert.match(show.stdout, /^lifetime: +600s$/m);
    for (const r of [add, list, names, show]) {
      assertNoSecret(r.stdout + r.stderr, [key], 'profile output');
    }
  });

  void test('an API key in an environment variable: show says set, never the value', async () => {
    const key = generateApiKey();
    const env = await userEnv({CRON_KEY: key});
    const add = await tvm(
      env,
      'profile',
      'add',
      'ci',
      '--url',
      URL,
      '--client-id',
      'c',
      '--api-key-env',
      'CRON_KEY',
    );
    assert.equal(add.code, 0, add.stderr);
    const show = await tvm(env, 'profile', 'show');
    assert.match(
      show.stdout,
      /^credential: +API key in environment variable CRON_KEY$/m,
    );
    assert.match(show.stdout, /^secret: +set$/m);
    assertNoSecret(show.stdout + show.stderr, [key], 'profile show');
  });

  const refused: Array<{name: string; mode: number; want: RegExp}> = [
    {
      name: 'group-readable',
      mode: 0o640,
      want: /readable or writable by others \(mode 0640\): run "chmod 600 /,
    },
    {name: 'world-readable', mode: 0o644, want: /\(mode 0644\)/},
  ];
  for (const {name, mode, want} of refused) {
    void test(`a ${name} key file is refused, as ssh refuses it`, async () => {
      const env = await userEnv();
      const {key, file} = await withKeyFile(env, mode);
      const r = await tvm(
        env,
        'profile',
        'add',
        'p',
        '--url',
        URL,
        '--client-id',
        'c',
        '--api-key-file',
        file,
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
      assertNoSecret(r.stdout + r.stderr, [key], 'refusal');
    });
  }

  void test('a key file loosened after add: tvm token refuses it before asking tvm', async () => {
    const env = await userEnv();
    const {key, file} = await withKeyFile(env);
    await tvm(
      env,
      'profile',
      'add',
      'p',
      '--url',
      'http://127.0.0.1:9',
      '--client-id',
      'c',
      '--api-key-file',
      file,
      '--audience',
      'a',
    );
    await chmod(file, 0o604);
    const r = await tvm(env, 'token');
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^tvm token: the API key file .*cron\.key is readable or writable by others \(mode 0604\)/,
    );
    assertNoSecret(r.stdout + r.stderr, [key], 'refusal');
  });

  void test('TVM_CONFIG names another file; --config overrides it', async () => {
    const env = await userEnv();
    const other = join(env.HOME!, 'elsewhere.yaml');
    const r = await tvm(
      {...env, TVM_CONFIG: other},
      'profile',
      'add',
      'x',
      '--url',
      URL,
      '--oidc-token-file',
      '/var/run/tvm/token',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      await readFile(other, 'utf8'),
      /oidc_token_file: \/var\/run\/tvm\/token/,
    );
    const list = await tvm(
      env,
      'profile',
      'list',
      '--config',
      other,
      '--names',
    );
    assert.equal(list.stdout, 'x\n');
  });

  const usage: Array<{name: string; args: string[]; want: RegExp}> = [
    {
      name: 'no credential',
      args: ['add', 'p', '--url', URL],
      want: /exactly one of --api-key-file, --api-key-env, .* \(found none\)/,
    },
    {
      name: 'two credentials',
      args: [
        'add',
        'p',
        '--url',
        URL,
        '--client-id',
        'c',
        '--api-key-env',
        'A',
        '--oidc-token-file',
        'f',
      ],
      want: /found --api-key-env, --oidc-token-file/,
    },
    {
      name: 'API key without client id',
      args: ['add', 'p', '--url', URL, '--api-key-env', 'A'],
      want: /--api-key-env needs --client-id/,
    },
    {
      name: 'plain http to a remote host',
      args: [
        'add',
        'p',
        '--url',
        'http://tvm.example.test',
        '--oidc-token-file',
        'f',
      ],
      want: /https \(http only for loopback\)/,
    },
    {
      name: 'bad name',
      args: ['add', 'a b', '--url', URL],
      want: /a profile name is letters/,
    },
  ];
  for (const {name, args, want} of usage) {
    void test(`profile add refuses ${name}: exit 2, one line`, async () => {
      const r = await tvm(await userEnv(), 'profile', ...args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    });
  }

  void test('a mistyped profile: did you mean, and the file it read', async () => {
    const env = await userEnv();
    await tvm(
      env,
      'profile',
      'add',
      'nightly',
      '--url',
      URL,
      '--oidc-token-file',
      '/t',
    );
    for (const args of [
      ['token', '--profile', 'nigthly'],
      ['profile', 'show', 'nightyl'],
    ]) {
      const r = await tvm(env, ...args);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /no profile "ni\w+" in .*config\.yaml \(did you mean "nightly"\?\); "tvm profile list" shows them/,
      );
    }
  });

  void test('an adding twice needs --replace; --default moves the default', async () => {
    const env = await userEnv();
    await tvm(
      env,
      'profile',
      'add',
      'a',
      '--url',
      URL,
      '--oidc-token-file',
      '/t',
    );
    const again = await tvm(
      env,
      'profile',
      'add',
      'a',
      '--url',
      URL,
      '--oidc-token-file',
      '/u',
    );
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists .*--replace/);
    const b = await tvm(
      env,
      'profile',
      'add',
      'b',
      '--url',
      URL,
      '--oidc-token-file',
      '/t',
      '--default',
    );
    assert.equal(b.code, 0, b.stderr);
    const list = await tvm(env, 'profile', 'list');
    assert.match(list.stdout, /^ {2}a /m);
    assert.match(list.stdout, /^\* b /m);
  });

  const badFiles: Array<{name: string; text: string; want: RegExp}> = [
    {
      name: 'unknown key',
      text: 'profiles:\n  a:\n    url: https://t.test\n    oidc_token_file: /t\n    colour: red\n',
      want: /config\.yaml: profiles\.a: Unrecognized key: "colour"/,
    },
    {
      name: 'not YAML',
      text: 'profiles: [\n',
      want: /config\.yaml: not valid YAML/,
    },
    {
      name: 'no credential',
      text: 'profiles:\n  a: {url: "https://t.test"}\n',
      want: /profiles\.a: exactly one of api_key_file/,
    },
  ];
  for (const {name, text, want} of badFiles) {
    void test(`a configuration file with ${name}: one line naming the file and the path`, async () => {
      const env = await userEnv();
      await mkdir(join(env.XDG_CONFIG_HOME!, 'tvm'), {recursive: true});
      await writeFile(join(env.XDG_CONFIG_HOME!, 'tvm', 'config.yaml'), text);
      const r = await tvm(env, 'profile', 'list');
      assert.equal(r.code, 2);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    });
  }

  void test('no profile yet: tvm token says how to add one', async () => {
    const r = await tvm(await userEnv(), 'token');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /no profiles in .*config\.yaml: add one with "tvm profile add NAME --url URL \.\.\."/,
    );
  });
});
