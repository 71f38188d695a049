/**
 * Served as Cloud Functions serves it: the functions-framework CLI with target `tvm`.
 * A bad configuration value stops the start with a message naming the variable.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {freePort, waitHealthy} from '../support/net.ts';

const root = join(import.meta.dirname, '../..');
const framework = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

const cases: {name: string; env: Record<string, string>; variable: string}[] = [
  {
    name: 'an endpoint that is not http(s)',
    env: {TVM_IAM_CREDENTIALS_ENDPOINT: 'ftp://iam.example'},
    variable: 'TVM_IAM_CREDENTIALS_ENDPOINT',
  },
  {
    name: 'plain http off loopback',
    env: {TVM_SECRET_MANAGER_ENDPOINT: 'http://10.0.0.8:443'},
    variable: 'TVM_SECRET_MANAGER_ENDPOINT',
  },
  {
    name: 'a rate limit that is not a number',
    env: {TVM_RATE_LIMIT_PER_IP: 'lots'},
    variable: 'TVM_RATE_LIMIT_PER_IP',
  },
  {
    name: 'local mode pointed at real Google',
    env: {TVM_LOCAL: '1'},
    variable: 'TVM_IAM_CREDENTIALS_ENDPOINT',
  },
  {
    name: 'an issuer with a query',
    env: {TVM_ISSUER: 'https://tvm.example/?x=1'},
    variable: 'TVM_ISSUER',
  },
];

for (const c of cases) {
  void test(`a bad value stops the start: ${c.name}`, () => {
    const r = spawnSync(
      process.execPath,
      [
        framework,
        '--target=tvm',
        '--port=0',
        `--source=${join(root, 'src/index.ts')}`,
      ],
      {
        env: {PATH: process.env.PATH, HOME: process.env.HOME, ...c.env},
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr + r.stdout,
      new RegExp(`ConfigError: ${c.variable}: `),
    );
  });
}

void test("a body the framework's parser would refuse is never logged, secrets and all", async () => {
  const secret = `tvm_${'S'.repeat(43)}`;
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      framework,
      '--target=tvm',
      `--port=${port}`,
      `--source=${join(root, 'src/index.ts')}`,
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TVM_POLICY: join(root, 'policy/demo.yaml'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', d => (out += String(d)));
  child.stderr.on('data', d => (out += String(d)));
  try {
    await waitHealthy(`http://127.0.0.1:${port}/healthz`, {tries: 200});
    const res = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: `{"grant_type":"client_credentials","client_id":"demo","client_secret":"${secret}",}`,
    });
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.ok(!text.includes(secret));
    // The framework's parser never sees it (src/request-guard.ts): tvm refuses it in
    // its own words and audits it.
    assert.equal(
      (JSON.parse(text) as {error: string}).error,
      'invalid_request',
    );
    await new Promise(r => setTimeout(r, 200));
    assert.match(out, /"reason":"ERR_INVALID_REQUEST"/);
    assert.ok(!out.includes(secret), 'the rejected body is not in the logs');
    assert.ok(!out.includes('SSSSSSSS'), 'no part of it either');
  } finally {
    child.kill();
  }
});
