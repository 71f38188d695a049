/**
 * Served as Cloud Functions serves it: the functions-framework CLI with target `tvm`.
 * A bad configuration value stops the start with a message naming the variable.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';

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
