/**
 * Secret Manager across projects, driven through the real SecretManagerServiceClient: a
 * secret lives in a project; projects other than the emulator's own are made on first
 * use by the state API with a stable number; answers name the project by number; grants
 * hold in their own project only.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {credentials, status} from '@grpc/grpc-js';
import {SecretManagerServiceClient} from '@google-cloud/secret-manager';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {CLOUD_PLATFORM, jwtClient, rejection, sa} from './helpers.ts';

const DEFAULT_NUMBER = '123456789012';
const OTHER = 'other-proj';
const WAREHOUSE = `projects/${OTHER}/secrets/warehouse-key`;
const etl = `etl@${OTHER}.iam.gserviceaccount.com`;
const reader = sa('reader');
const projectReader = sa('project-reader');
const otherProjectReader = sa('other-project-reader');
const admin = sa('admin');
const otherAdmin = sa('other-admin');

interface GrpcFailure {
  code: number;
  details: string;
}

void describe('Secret Manager (gRPC) across projects', () => {
  let emulator: Emulator;
  let client: SecretManagerServiceClient;
  let otherNumber: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    emulator = await startEmulator();
    const s = emulator.state;
    for (const email of [
      reader,
      projectReader,
      otherProjectReader,
      admin,
      otherAdmin,
      etl,
    ]) {
      s.createServiceAccount({email});
    }
    // other-proj does not exist until the first call names it.
    s.createSecret(WAREHOUSE);
    s.addSecretVersion(WAREHOUSE, 'other-v1');
    s.addSecretVersion(WAREHOUSE, 'other-v2');
    // The same secret id in the default project is another secret.
    s.createSecret('projects/tvm-local/secrets/warehouse-key');
    s.addSecretVersion('projects/tvm-local/secrets/warehouse-key', 'local-v1');
    s.grantSecretAccessor(`serviceAccount:${reader}`, WAREHOUSE);
    s.grantSecretAccessor(`serviceAccount:${etl}`, WAREHOUSE);
    s.grantSecretAccessor(
      `serviceAccount:${projectReader}`,
      'projects/tvm-local',
    );
    s.grantSecretAccessor(
      `serviceAccount:${otherProjectReader}`,
      `projects/${OTHER}`,
    );
    s.grantSecretAdmin(`serviceAccount:${admin}`);
    s.grantSecretAdmin(`serviceAccount:${otherAdmin}`, `projects/${OTHER}`);
    otherNumber = s.project(OTHER).projectNumber;
    for (const [name, email] of [
      ['reader', reader],
      ['projectReader', projectReader],
      ['otherProjectReader', otherProjectReader],
      ['admin', admin],
      ['otherAdmin', otherAdmin],
      ['etl', etl],
    ] as const) {
      const jwt = jwtClient(emulator, s.createKey(email), {
        scopes: [CLOUD_PLATFORM],
      });
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

  function as(token: string | undefined) {
    return {
      timeout: 5000,
      otherArgs: {headers: {authorization: `Bearer ${token}`}},
    };
  }

  async function read(name: string, token: string | undefined) {
    const [res] = await client.accessSecretVersion({name}, as(token));
    return {
      name: res.name,
      data: Buffer.from(res.payload?.data as Uint8Array).toString(),
    };
  }

  async function failure(
    name: string,
    token: string | undefined,
  ): Promise<GrpcFailure> {
    return (await rejection(read(name, token))) as GrpcFailure;
  }

  void test('a project made on first use gets a stable 12-digit number of its own', async () => {
    assert.match(otherNumber, /^[1-9][0-9]{11}$/);
    assert.notEqual(otherNumber, DEFAULT_NUMBER);
    assert.deepEqual(emulator.state.project(`projects/${otherNumber}`), {
      projectId: OTHER,
      projectNumber: otherNumber,
    });
    assert.deepEqual(emulator.state.project('tvm-local'), {
      projectId: 'tvm-local',
      projectNumber: DEFAULT_NUMBER,
    });
    const again = await startEmulator();
    try {
      assert.equal(again.state.project(OTHER).projectNumber, otherNumber);
    } finally {
      await again.close();
    }
  });

  void test('reads a secret of another project by id and by number; the answer names it by number', async () => {
    for (const project of [OTHER, otherNumber]) {
      const byVersion = await read(
        `projects/${project}/secrets/warehouse-key/versions/1`,
        tokens.reader,
      );
      assert.deepEqual(byVersion, {
        name: `projects/${otherNumber}/secrets/warehouse-key/versions/1`,
        data: 'other-v1',
      });
      const latest = await read(
        `projects/${project}/secrets/warehouse-key/versions/latest`,
        tokens.reader,
      );
      assert.deepEqual(latest, {
        name: `projects/${otherNumber}/secrets/warehouse-key/versions/2`,
        data: 'other-v2',
      });
    }
  });

  void test('a service account of that project reads it with its own key (key file names its project)', async () => {
    assert.equal(emulator.state.createKey(etl).project_id, OTHER);
    assert.equal(emulator.state.createKey(reader).project_id, 'tvm-local');
    const res = await read(`${WAREHOUSE}/versions/latest`, tokens.etl);
    assert.equal(res.data, 'other-v2');
  });

  void test('the same secret id in two projects is two secrets', async () => {
    const local = await read(
      'projects/tvm-local/secrets/warehouse-key/versions/1',
      tokens.projectReader,
    );
    assert.deepEqual(local, {
      name: `projects/${DEFAULT_NUMBER}/secrets/warehouse-key/versions/1`,
      data: 'local-v1',
    });
    // The per-secret grant on other-proj's secret is not one on tvm-local's.
    const err = await failure(
      'projects/tvm-local/secrets/warehouse-key/versions/1',
      tokens.reader,
    );
    assert.equal(err.code, status.PERMISSION_DENIED);
  });

  void test('project-level accessor grants do not leak across projects', async () => {
    const cases = [
      {who: 'projectReader', project: OTHER, ok: false},
      {who: 'projectReader', project: otherNumber, ok: false},
      {who: 'projectReader', project: 'tvm-local', ok: true},
      {who: 'otherProjectReader', project: OTHER, ok: true},
      {who: 'otherProjectReader', project: otherNumber, ok: true},
      {who: 'otherProjectReader', project: 'tvm-local', ok: false},
      {who: 'otherProjectReader', project: DEFAULT_NUMBER, ok: false},
    ];
    for (const c of cases) {
      const name = `projects/${c.project}/secrets/warehouse-key/versions/1`;
      if (c.ok) {
        const res = await read(name, tokens[c.who]);
        assert.equal(
          res.data,
          c.project === 'tvm-local' ? 'local-v1' : 'other-v1',
        );
        continue;
      }
      const err = await failure(name, tokens[c.who]);
      assert.equal(err.code, status.PERMISSION_DENIED, `${c.who} ${name}`);
      assert.equal(
        err.details,
        `Permission 'secretmanager.versions.access' denied for resource '${name}' (or it may not exist).`,
      );
    }
    // Project-wide access in other-proj: a missing secret there is NOT_FOUND.
    const missing = await failure(
      `projects/${OTHER}/secrets/nope/versions/1`,
      tokens.otherProjectReader,
    );
    assert.equal(missing.code, status.NOT_FOUND);
    assert.equal(
      missing.details,
      `Secret [projects/${otherNumber}/secrets/nope] not found or has no versions.`,
    );
  });

  void test('a project the emulator does not know is PERMISSION_DENIED, by id or number', async () => {
    for (const project of ['never-made', '999999999999']) {
      const name = `projects/${project}/secrets/warehouse-key/versions/1`;
      const err = await failure(name, tokens.admin);
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.equal(
        err.details,
        `Permission 'secretmanager.versions.access' denied for resource '${name}' (or it may not exist).`,
      );
    }
    assert.throws(
      () => emulator.state.project('projects/999999999999'),
      TypeError,
    );
  });

  void test('secretmanager.admin holds in its own project only', async () => {
    const create = (parent: string, token: string | undefined) =>
      client.createSecret(
        {parent, secretId: 'made', secret: {replication: {automatic: {}}}},
        as(token),
      );
    for (const [parent, who] of [
      [`projects/${OTHER}`, 'admin'],
      ['projects/tvm-local', 'otherAdmin'],
    ] as const) {
      const err = (await rejection(create(parent, tokens[who]))) as GrpcFailure;
      assert.equal(err.code, status.PERMISSION_DENIED, `${who} ${parent}`);
    }
    const [secret] = await create(`projects/${otherNumber}`, tokens.otherAdmin);
    assert.equal(secret.name, `projects/${otherNumber}/secrets/made`);
    const [version] = await client.addSecretVersion(
      {
        parent: `projects/${OTHER}/secrets/made`,
        payload: {data: Buffer.from('x')},
      },
      as(tokens.otherAdmin),
    );
    assert.equal(
      version.name,
      `projects/${otherNumber}/secrets/made/versions/1`,
    );
    const name = version.name ?? '';
    const denied = (await rejection(
      client.disableSecretVersion({name}, as(tokens.admin)),
    )) as GrpcFailure;
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.equal(
      (await client.disableSecretVersion({name}, as(tokens.otherAdmin)))[0]
        .state,
      'DISABLED',
    );
    // The default project still has no secret of that id.
    assert.equal(
      (
        (await rejection(
          read('projects/tvm-local/secrets/made/versions/1', tokens.admin),
        )) as GrpcFailure
      ).code,
      status.NOT_FOUND,
    );
  });

  void test('the state API makes projects on first use, but never from a number', () => {
    const s = emulator.state;
    s.grantSecretAccessor(`serviceAccount:${reader}`, 'projects/grant-first');
    const made = s.project('grant-first').projectNumber;
    assert.match(made, /^[1-9][0-9]{11}$/);
    assert.notEqual(made, otherNumber);
    s.createSecret(`projects/${made}/secrets/by-number`);
    assert.equal(
      s.addSecretVersion('projects/grant-first/secrets/by-number', 'x'),
      'projects/grant-first/secrets/by-number/versions/1',
    );
    assert.throws(
      () => s.createSecret('projects/555555555555/secrets/x'),
      /unknown project number/,
    );
    assert.throws(
      () => s.addSecretVersion('projects/yet-another/secrets/x', 'x'),
      /unknown secret/,
    );
    assert.throws(
      () => s.createSecret('projects/Bad_Project/secrets/x'),
      /invalid project id/,
    );
    assert.throws(
      () => s.createSecret(`${WAREHOUSE}`),
      /secret already exists/,
    );
  });
});
