/** Configuration as a function of the environment: defaults, values, refusals by name. */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {CONFIG_VARIABLES, parseConfig} from '../src/config.ts';
import {ConfigError} from '../src/errors.ts';

void test('defaults point at Google and trust no proxy off the platform', () => {
  const c = parseConfig({});
  assert.equal(c.port, 8080);
  assert.equal(
    c.iamCredentialsEndpoint,
    'https://iamcredentials.googleapis.com',
  );
  assert.equal(c.oauth2TokenUrl, 'https://oauth2.googleapis.com/token');
  assert.equal(c.secretManagerEndpoint, 'https://secretmanager.googleapis.com');
  assert.equal(c.trustedProxyHops, 0);
  assert.equal(c.local, false);
  assert.equal(c.policySource, undefined);
  assert.ok(Object.isFrozen(c));
});

void test("on Cloud Functions (K_SERVICE), Google's front end is one trusted hop", () => {
  assert.equal(parseConfig({K_SERVICE: 'tvm'}).trustedProxyHops, 1);
  assert.equal(
    parseConfig({K_SERVICE: 'tvm', TVM_TRUSTED_PROXY_HOPS: '2'})
      .trustedProxyHops,
    2,
  );
});

void test('values are normalised', () => {
  const c = parseConfig({
    TVM_ISSUER: 'https://tvm.example.com/',
    TVM_IAM_CREDENTIALS_ENDPOINT: 'https://private.googleapis.com/',
    TVM_OAUTH2_TOKEN_URL: 'http://127.0.0.1:9000/token',
    PORT: '9090',
    TVM_LOCAL: '1',
  });
  assert.equal(c.issuer, 'https://tvm.example.com');
  assert.equal(c.iamCredentialsEndpoint, 'https://private.googleapis.com');
  assert.equal(c.oauth2TokenUrl, 'http://127.0.0.1:9000/token');
  assert.equal(c.port, 9090);
  assert.equal(c.local, true);
});

const refusals: [string, Record<string, string>][] = [
  ['PORT', {PORT: '70000'}],
  ['PORT', {PORT: '80a'}],
  ['TVM_LOCAL', {TVM_LOCAL: 'yes'}],
  [
    'TVM_IAM_CREDENTIALS_ENDPOINT',
    {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://x.example/v1'},
  ],
  [
    'TVM_IAM_CREDENTIALS_ENDPOINT',
    {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://user:pw@x.example'},
  ],
  [
    'TVM_OAUTH2_TOKEN_URL',
    {TVM_OAUTH2_TOKEN_URL: 'http://oauth2.example/token'},
  ],
  ['TVM_ISSUER', {TVM_ISSUER: 'http://tvm.example.com'}],
  ['TVM_LOG_LEVEL', {TVM_LOG_LEVEL: 'verbose'}],
  ['TVM_POLICY_REFRESH_SECONDS', {TVM_POLICY_REFRESH_SECONDS: '1'}],
];
for (const [variable, env] of refusals) {
  void test(`refused, naming ${variable}: ${JSON.stringify(env)}`, () => {
    assert.throws(
      () => parseConfig(env),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.variable === variable &&
        e.message.startsWith(`${variable}: `),
    );
  });
}

void test('every variable read is listed in CONFIG_VARIABLES', () => {
  for (const [variable, env] of refusals) {
    assert.ok(variable in CONFIG_VARIABLES, variable);
    assert.ok(Object.keys(env).every(k => k in CONFIG_VARIABLES));
  }
});
