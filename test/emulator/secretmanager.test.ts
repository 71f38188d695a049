/**
 * Secret Manager over plaintext gRPC, driven through the real SecretManagerServiceClient.
 * Credentials travel as per-call `authorization` metadata (`otherArgs.headers`), because
 * grpc-js will not attach call credentials to an insecure channel.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {credentials, status} from '@grpc/grpc-js';
import {SecretManagerServiceClient} from '@google-cloud/secret-manager';
import {JWT} from 'google-auth-library';
import {
  crc32c,
  startEmulator,
  type Emulator,
} from '../../emulator/src/index.ts';
import {CLOUD_PLATFORM, jwtClient, rejection, sa} from './helpers.ts';

const reader = sa('reader');
const stranger = sa('stranger');
const admin = sa('admin');
const SECRET = 'projects/tvm-local/secrets/api-key';
const BY_NUMBER = 'projects/123456789012/secrets/api-key';

interface GrpcFailure {
  code: number;
  details: string;
}

void describe('Secret Manager (gRPC)', () => {
  let emulator: Emulator;
  let offsetMs = 0;
  let client: SecretManagerServiceClient;
  const tokens: Record<string, string> = {};
  let readerKey: ReturnType<Emulator['state']['createKey']>;

  before(async () => {
    emulator = await startEmulator({now: () => Date.now() + offsetMs});
    const s = emulator.state;
    for (const email of [reader, stranger, admin])
      s.createServiceAccount({email});
    s.createSecret(SECRET);
    s.addSecretVersion(SECRET, 'first');
    s.addSecretVersion(SECRET, new Uint8Array([0, 1, 2, 255]));
    s.addSecretVersion(SECRET, 'disabled');
    s.addSecretVersion(SECRET, 'destroyed');
    s.setSecretVersionState(`${SECRET}/versions/3`, 'DISABLED');
    s.setSecretVersionState(`${SECRET}/versions/4`, 'DESTROYED');
    s.createSecret('projects/tvm-local/secrets/latest-ok');
    s.addSecretVersion('projects/tvm-local/secrets/latest-ok', 'v1');
    s.addSecretVersion('projects/tvm-local/secrets/latest-ok', 'v2');
    s.grantSecretAccessor(`serviceAccount:${reader}`, SECRET);
    s.grantSecretAccessor(
      `serviceAccount:${reader}`,
      'projects/tvm-local/secrets/latest-ok',
    );
    s.grantSecretAdmin(`serviceAccount:${admin}`);
    readerKey = s.createKey(reader);
    for (const [name, email] of [
      ['reader', reader],
      ['stranger', stranger],
      ['admin', admin],
    ] as const) {
      const jwt = jwtClient(
        emulator,
        name === 'reader' ? readerKey : s.createKey(email),
        {
          scopes: [CLOUD_PLATFORM],
        },
      );
      tokens[name] = (await jwt.getAccessToken()).token ?? '';
    }
    client = new SecretManagerServiceClient({
      apiEndpoint: '127.0.0.1',
      port: emulator.grpcPort,
      sslCreds: credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    });
  });
  after(async () => {
    await client.close();
    await emulator.close();
  });

  /** Call options carrying the bearer credential as per-call metadata. */
  function as(token: string | undefined) {
    return {
      timeout: 5000,
      ...(token === undefined
        ? {}
        : {otherArgs: {headers: {authorization: `Bearer ${token}`}}}),
    };
  }

  async function access(name: string, token: string | undefined) {
    const [res] = await client.accessSecretVersion({name}, as(token));
    return res;
  }

  async function failure(
    name: string,
    token: string | undefined,
  ): Promise<GrpcFailure> {
    return (await rejection(access(name, token))) as GrpcFailure;
  }

  void test('returns a numbered version with a correct CRC-32C and the project number in name', async () => {
    const cases = [
      {name: `${SECRET}/versions/1`, data: Buffer.from('first'), version: 1},
      {
        name: `${BY_NUMBER}/versions/2`,
        data: Buffer.from([0, 1, 2, 255]),
        version: 2,
      },
    ];
    for (const c of cases) {
      const res = await access(c.name, tokens.reader);
      assert.equal(res.name, `${BY_NUMBER}/versions/${c.version}`);
      const data = Buffer.from(res.payload?.data as Uint8Array);
      assert.deepEqual(data, c.data);
      assert.equal(String(res.payload?.dataCrc32c), String(crc32c(data)));
    }
  });

  void test('latest resolves to the most recently created version', async () => {
    const res = await access(
      'projects/tvm-local/secrets/latest-ok/versions/latest',
      tokens.reader,
    );
    assert.equal(
      res.name,
      'projects/123456789012/secrets/latest-ok/versions/2',
    );
    assert.equal(Buffer.from(res.payload?.data as Uint8Array).toString(), 'v2');
  });

  void test('latest is the newest version even when it is not enabled (FAILED_PRECONDITION)', async () => {
    const err = await failure(`${SECRET}/versions/latest`, tokens.reader);
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.equal(
      err.details,
      `Secret Version [${BY_NUMBER}/versions/4] is in DESTROYED state.`,
    );
  });

  const refusals: Array<{
    name: string;
    version: string;
    who: string | undefined;
    code: number;
    details: string;
  }> = [
    {
      name: 'a disabled version',
      version: `${SECRET}/versions/3`,
      who: 'reader',
      code: status.FAILED_PRECONDITION,
      details: `Secret Version [${BY_NUMBER}/versions/3] is in DISABLED state.`,
    },
    {
      name: 'a destroyed version',
      version: `${SECRET}/versions/4`,
      who: 'reader',
      code: status.FAILED_PRECONDITION,
      details: `Secret Version [${BY_NUMBER}/versions/4] is in DESTROYED state.`,
    },
    {
      name: 'a version that does not exist',
      version: `${SECRET}/versions/9`,
      who: 'reader',
      code: status.NOT_FOUND,
      details: `Secret Version [${BY_NUMBER}/versions/9] not found.`,
    },
    {
      name: 'a caller without secretAccessor',
      version: `${SECRET}/versions/1`,
      who: 'stranger',
      code: status.PERMISSION_DENIED,
      details: `Permission 'secretmanager.versions.access' denied for resource '${SECRET}/versions/1' (or it may not exist).`,
    },
    {
      name: 'a secret of another project',
      version: 'projects/other/secrets/api-key/versions/1',
      who: 'reader',
      code: status.PERMISSION_DENIED,
      details:
        "Permission 'secretmanager.versions.access' denied for resource 'projects/other/secrets/api-key/versions/1' (or it may not exist).",
    },
    {
      name: 'a call without credentials',
      version: `${SECRET}/versions/1`,
      who: undefined,
      code: status.UNAUTHENTICATED,
      details:
        'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    },
    {
      name: 'a token the emulator never issued',
      version: `${SECRET}/versions/1`,
      who: 'forged',
      code: status.UNAUTHENTICATED,
      details:
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    },
  ];
  for (const c of refusals) {
    void test(`refuses ${c.name}`, async () => {
      const token =
        c.who === undefined ? undefined : (tokens[c.who] ?? 'ya29.forged');
      const err = await failure(c.version, token);
      assert.equal(err.code, c.code);
      assert.equal(err.details, c.details);
    });
  }

  void test('a missing secret is NOT_FOUND for a caller with project-wide access', async () => {
    const email = sa('project-reader');
    emulator.state.createServiceAccount({email});
    emulator.state.grantSecretAccessor(
      `serviceAccount:${email}`,
      'projects/tvm-local',
    );
    const jwt = jwtClient(emulator, emulator.state.createKey(email), {
      scopes: [CLOUD_PLATFORM],
    });
    const token = (await jwt.getAccessToken()).token ?? '';
    const err = await failure(
      'projects/tvm-local/secrets/nope/versions/1',
      token,
    );
    assert.equal(err.code, status.NOT_FOUND);
    assert.equal(
      err.details,
      'Secret [projects/123456789012/secrets/nope] not found or has no versions.',
    );
    assert.equal(
      Buffer.from(
        (await access(`${SECRET}/versions/1`, token)).payload
          ?.data as Uint8Array,
      ).toString(),
      'first',
    );
  });

  void test('refuses a caller token that has expired by the emulator clock', async () => {
    offsetMs = 2 * 3600_000;
    try {
      const err = await failure(`${SECRET}/versions/1`, tokens.reader);
      assert.equal(err.code, status.UNAUTHENTICATED);
    } finally {
      offsetMs = 0;
    }
  });

  void test('accepts a self-signed JWT from a live key, refuses one from a deleted key', async () => {
    const key = emulator.state.createKey(reader);
    const selfSigned = async () => {
      const jwt = new JWT({
        email: key.client_email,
        key: key.private_key,
        keyId: key.private_key_id,
      });
      const headers = await jwt.getRequestHeaders(
        'https://secretmanager.googleapis.com/',
      );
      return (headers.get('authorization') ?? '').replace(/^Bearer /, '');
    };
    const res = await access(`${SECRET}/versions/1`, await selfSigned());
    assert.equal(res.name, `${BY_NUMBER}/versions/1`);
    emulator.state.deleteKey(reader, key.private_key_id);
    const err = await failure(`${SECRET}/versions/1`, await selfSigned());
    assert.equal(err.code, status.UNAUTHENTICATED);
  });

  void test('provisions over gRPC: create, add, disable, enable, destroy (admin only)', async () => {
    const parent = 'projects/tvm-local';
    const denied = (await rejection(
      client.createSecret(
        {parent, secretId: 'made', secret: {replication: {automatic: {}}}},
        as(tokens.reader),
      ),
    )) as GrpcFailure;
    assert.equal(denied.code, status.PERMISSION_DENIED);
    const [secret] = await client.createSecret(
      {parent, secretId: 'made', secret: {replication: {automatic: {}}}},
      as(tokens.admin),
    );
    assert.equal(secret.name, 'projects/123456789012/secrets/made');
    const data = Buffer.from('hello');
    const [version] = await client.addSecretVersion(
      {parent: secret.name, payload: {data, dataCrc32c: crc32c(data)}},
      as(tokens.admin),
    );
    assert.equal(version.name, 'projects/123456789012/secrets/made/versions/1');
    assert.equal(version.state, 'ENABLED');
    const badCrc = (await rejection(
      client.addSecretVersion(
        {parent: secret.name, payload: {data, dataCrc32c: 1}},
        as(tokens.admin),
      ),
    )) as GrpcFailure;
    assert.equal(badCrc.code, status.INVALID_ARGUMENT);
    const name = version.name ?? '';
    assert.equal(
      (await client.disableSecretVersion({name}, as(tokens.admin)))[0].state,
      'DISABLED',
    );
    assert.equal(
      (await client.enableSecretVersion({name}, as(tokens.admin)))[0].state,
      'ENABLED',
    );
    assert.equal(
      (await client.getSecretVersion({name}, as(tokens.admin)))[0].state,
      'ENABLED',
    );
    assert.equal(
      (await client.destroySecretVersion({name}, as(tokens.admin)))[0].state,
      'DESTROYED',
    );
    const gone = (await rejection(access(name, tokens.admin))) as GrpcFailure;
    assert.equal(gone.code, status.FAILED_PRECONDITION);
  });

  void test('methods that are not emulated answer UNIMPLEMENTED', async () => {
    const err = (await rejection(
      client.getSecret({name: SECRET}, as(tokens.reader)),
    )) as GrpcFailure;
    assert.equal(err.code, status.UNIMPLEMENTED);
  });
});
