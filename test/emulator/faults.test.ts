/**
 * Faults per surface, and tokeninfo for tokens from each minting path. Every fault kind
 * is exercised through a real client library.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {credentials, status} from '@grpc/grpc-js';
import {SecretManagerServiceClient} from '@google-cloud/secret-manager';
import {Impersonated, OAuth2Client, type JWT} from 'google-auth-library';
import {decodeJwt} from 'jose';
import {
  crc32c,
  startEmulator,
  type Emulator,
} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  errorBody,
  errorStatus,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

const caller = sa('caller');
const target = sa('target');
const SECRET = 'projects/tvm-local/secrets/s';

void describe('faults and tokeninfo', () => {
  let emulator: Emulator;
  let source: JWT;
  let tokeninfo: OAuth2Client;
  let sm: SecretManagerServiceClient;

  before(async () => {
    emulator = await startEmulator();
    const s = emulator.state;
    s.createServiceAccount({email: caller});
    s.createServiceAccount({email: target});
    s.grantTokenCreator(`serviceAccount:${caller}`, target);
    s.createSecret(SECRET);
    s.addSecretVersion(SECRET, 'payload');
    s.grantSecretAccessor(`serviceAccount:${caller}`, SECRET);
    source = jwtClient(emulator, s.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
    tokeninfo = new OAuth2Client({
      endpoints: {tokenInfoUrl: `${emulator.url}/tokeninfo`},
    });
    sm = new SecretManagerServiceClient({
      apiEndpoint: '127.0.0.1',
      port: emulator.grpcPort,
      sslCreds: credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    });
  });
  after(async () => {
    await sm.close();
    await emulator.close();
  });

  const impersonate = () =>
    new Impersonated({
      sourceClient: source,
      targetPrincipal: target,
      targetScopes: [CLOUD_PLATFORM],
      endpoint: emulator.url,
    });

  async function callerToken(): Promise<string> {
    return (await source.getAccessToken()).token ?? '';
  }

  function accessOptions(token: string, timeout = 5000) {
    return {
      timeout,
      retry: null,
      otherArgs: {headers: {authorization: `Bearer ${token}`}},
    };
  }

  void test('tokeninfo answers for tokens from /token and from generateAccessToken', async () => {
    const fromToken = await tokeninfo.getTokenInfo(await callerToken());
    assert.equal(fromToken.email, caller);
    assert.deepEqual(fromToken.scopes, [CLOUD_PLATFORM]);
    const {token} = await impersonate().getAccessToken();
    const fromIam = await tokeninfo.getTokenInfo(token ?? '');
    assert.equal(fromIam.email, target);
    assert.equal(fromIam.email_verified, 'true' as unknown as boolean);
    assert.equal(fromIam.access_type, 'online');
  });

  void test('tokeninfo refuses an unknown token with Google’s body', async () => {
    const err = await rejection(tokeninfo.getTokenInfo('ya29.unknown'));
    assert.equal(errorStatus(err), 400);
    assert.deepEqual(errorBody(err), {
      error: 'invalid_token',
      error_description: 'Invalid Value',
    });
  });

  void test('status fault: a 503 once is retried by the library and then succeeds', async () => {
    emulator.stats.reset();
    emulator.faults.set(
      'oauth2.token',
      {kind: 'status', status: 503},
      {times: 1},
    );
    const client = jwtClient(emulator, emulator.state.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
    const {token} = await client.getAccessToken();
    assert.match(token ?? '', /^ya29\./);
    assert.equal(emulator.stats.count('oauth2.token'), 2);
  });

  void test('status fault: a 403 on generateAccessToken carries Google’s error JSON', async () => {
    emulator.faults.set(
      'iam.generateAccessToken',
      {kind: 'status', status: 403},
      {times: 1},
    );
    const err = await rejection(impersonate().getAccessToken());
    assert.equal(errorStatus(err), 403);
    const body = errorBody(err) as {error: {code: number; status: string}};
    assert.equal(body.error.code, 403);
    assert.equal(body.error.status, 'PERMISSION_DENIED');
    // cleared after one use
    assert.match((await impersonate().getAccessToken()).token ?? '', /^ya29\./);
  });

  void test('status fault on Secret Manager maps to the gRPC code', async () => {
    emulator.faults.set('secretmanager.access', {kind: 'status', status: 403});
    try {
      const err = (await rejection(
        sm.accessSecretVersion(
          {name: `${SECRET}/versions/1`},
          accessOptions(await callerToken()),
        ),
      )) as {code: number};
      assert.equal(err.code, status.PERMISSION_DENIED);
    } finally {
      emulator.faults.clear('secretmanager.access');
    }
  });

  void test('delay fault: the answer comes, late', async () => {
    emulator.faults.set('tokeninfo', {kind: 'delay', ms: 250}, {times: 1});
    const started = Date.now();
    const info = await tokeninfo.getTokenInfo(await callerToken());
    assert.equal(info.email, caller);
    assert.ok(Date.now() - started >= 240);
  });

  void test('hang fault: the client times out (HTTP and gRPC)', async () => {
    emulator.faults.set('iam.signJwt', {kind: 'hang'});
    emulator.faults.set('secretmanager.access', {kind: 'hang'});
    try {
      const err = await rejection(
        source.request({
          url: `${emulator.url}/v1/projects/-/serviceAccounts/${target}:signJwt`,
          method: 'POST',
          data: {payload: '{}'},
          timeout: 300,
          retry: false,
        }),
      );
      assert.match(String((err as Error).message), /timeout|abort/i);
      const grpcErr = (await rejection(
        sm.accessSecretVersion(
          {name: `${SECRET}/versions/1`},
          accessOptions(await callerToken(), 300),
        ),
      )) as {code: number};
      assert.equal(grpcErr.code, status.DEADLINE_EXCEEDED);
    } finally {
      emulator.faults.clear();
    }
  });

  void test('malformed fault: a 200 the library cannot use', async () => {
    emulator.faults.set('oauth2.token', {kind: 'malformed'}, {times: 1});
    const client = jwtClient(emulator, emulator.state.createKey(caller), {
      scopes: [CLOUD_PLATFORM],
    });
    const outcome = await client.getAccessToken().then(
      r => r.token,
      (e: unknown) => e,
    );
    assert.ok(typeof outcome !== 'string' || !outcome.startsWith('ya29.'));
  });

  void test('malformed fault on Secret Manager: data_crc32c does not match the data', async () => {
    emulator.faults.set(
      'secretmanager.access',
      {kind: 'malformed'},
      {times: 1},
    );
    const [res] = await sm.accessSecretVersion(
      {name: `${SECRET}/versions/1`},
      accessOptions(await callerToken()),
    );
    const data = Buffer.from(res.payload?.data as Uint8Array);
    assert.equal(data.toString(), 'payload');
    assert.notEqual(String(res.payload?.dataCrc32c), String(crc32c(data)));
  });

  void test('expiredToken fault: generateAccessToken returns a token already past its expiry', async () => {
    emulator.faults.set(
      'iam.generateAccessToken',
      {kind: 'expiredToken'},
      {times: 1},
    );
    const client = impersonate();
    await client.getAccessToken();
    const token = client.credentials.access_token ?? '';
    assert.ok((client.credentials.expiry_date ?? Infinity) < Date.now());
    assert.ok(
      (emulator.state.tokenInfo(token)?.expiresAt ?? Infinity) < Date.now(),
    );
    // and nothing accepts it
    const err = await rejection(tokeninfo.getTokenInfo(token));
    assert.equal(errorStatus(err), 400);
  });

  void test('expiredToken fault: an ID token whose exp is past', async () => {
    emulator.faults.set(
      'iam.generateIdToken',
      {kind: 'expiredToken'},
      {times: 1},
    );
    const jwt = await impersonate().fetchIdToken('https://aud.example.com');
    assert.ok((decodeJwt(jwt).exp ?? Infinity) < Date.now() / 1000);
  });

  void test('faults validate their input', () => {
    assert.throws(
      () => emulator.faults.set('oauth2.token', {kind: 'status', status: 200}),
      TypeError,
    );
    assert.throws(
      () => emulator.faults.set('nope' as 'oauth2.token', {kind: 'hang'}),
      TypeError,
    );
  });
});
