/**
 * `tvm policy check` and `tvm policy explain` for delegated and downscoped requests,
 * through the CLI's main() with captured output: every problem with its path, and
 * the decision with the subject, the delegation entry that allowed it and the
 * boundary the token would carry.
 */
import {before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {main} from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'tvm-explain-narrowing-'));
const policyFile = join(dir, 'policy.yaml');
const badFile = join(dir, 'bad.yaml');
const boundaryFile = join(dir, 'boundary.json');
const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-a';

async function tvm(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: {write: (c: string) => (stdout += c)},
    stderr: {write: (c: string) => (stderr += c)},
    now: () => Date.UTC(2026, 10, 29, 12),
    env: {},
  });
  return {code, stdout, stderr};
}

before(() => {
  writeFileSync(
    policyFile,
    `
version: 1
service_accounts:
  robot:
    email: robot@my-proj.iam.gserviceaccount.com
  share:
    email: share@my-proj.iam.gserviceaccount.com
clients:
  sync:
    api_keys:
      - sha256: "${'a'.repeat(64)}"
    allow:
      - service_account: robot
        scopes: [cloud-platform]
        delegation:
          subjects: [alice@corp.example, "*@ops.example"]
          scopes: [gmail.readonly]
      - service_account: share
        scopes: [devstorage.read_only]
        max_lifetime: 15m
        access_boundary:
          mode: force
          rules:
            - resource: ${BUCKET}
              permissions: [inRole:roles/storage.objectViewer, inRole:roles/storage.legacyBucketReader]
              condition:
                expression: "resource.name.startsWith('projects/_/buckets/partner-a/objects/out/')"
`,
  );
  writeFileSync(
    badFile,
    `
version: 1
service_accounts:
  robot:
    email: robot@my-proj.iam.gserviceaccount.com
clients:
  sync:
    api_keys:
      - sha256: "${'a'.repeat(64)}"
    allow:
      - service_account: robot
        scopes: [cloud-platform]
        max_lifetime: 15m
        delegation:
          subjects: ["*@*.corp.example"]
          scopes: [gmail.readonly]
        access_boundary:
          mode: force
          rules:
            - resource: ${BUCKET}
              permissions: [storage.objects.get]
`,
  );
  writeFileSync(
    boundaryFile,
    JSON.stringify({
      accessBoundary: {
        accessBoundaryRules: [
          {
            availableResource: BUCKET,
            availablePermissions: ['inRole:roles/storage.objectViewer'],
            availabilityCondition: {
              expression:
                "resource.name.startsWith('projects/_/buckets/partner-a/objects/out/')",
            },
          },
        ],
      },
    }),
  );
});

const explain = (...rest: string[]) =>
  tvm([
    'policy',
    'explain',
    '--policy',
    policyFile,
    '--client',
    'sync',
    ...rest,
  ]);

void describe('tvm policy check', () => {
  void test('names the path of every delegation and boundary problem', async () => {
    const r = await tvm(['policy', 'check', badFile]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2).sort(), [
      'clients.sync.allow[0].access_boundary.rules[0].permissions[0]: must be an IAM role as inRole:roles/ROLE (e.g. inRole:roles/storage.objectViewer); Credential Access Boundaries take roles, not single permissions',
      'clients.sync.allow[0].delegation.subjects[0]: "*@*.corp.example": a * must be the whole local part of the address (*@corp.example); anywhere else it would match across a name boundary and widen trust',
    ]);
    assert.equal(
      lines.at(-1),
      `tvm: ${badFile} is not a valid policy (2 problems)`,
    );
  });

  void test('a policy with delegation and a boundary is valid', async () => {
    const r = await tvm(['policy', 'check', policyFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK .*: 1 client, 2 service accounts/);
  });
});

void describe('tvm policy explain', () => {
  void test('a delegated request: ALLOW with the user and the entry that allows it', async () => {
    const r = await explain(
      '--audience',
      'robot',
      '--subject',
      'Bob@ops.example',
      '--scope',
      'gmail.readonly',
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /decision: ALLOW robot@my-proj\.iam\.gserviceaccount\.com \(robot\), mint impersonate\n {2}subject: bob@ops\.example, by domain-wide delegation \(every user of \*@ops\.example in the grant's delegation\.subjects\)\n {2}scopes: https:\/\/www\.googleapis\.com\/auth\/gmail\.readonly\n {2}lifetime: 3600s \(grant max_lifetime 3600s; delegated tokens always live 1h\)\n$/,
    );
  });

  void test('a subject the grant does not list: DENY with the reason', async () => {
    const r = await explain(
      '--audience',
      'robot',
      '--subject',
      'mallory@corp.example',
      '--scope',
      'gmail.readonly',
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /decision: DENY\n {2}because: ERR_INVALID_TARGET: this client may not act for the requested subject with this service account \(subject not among the 2 of the grant of robot\)/,
    );
  });

  void test('a scope not allowed for delegation: DENY', async () => {
    const r = await explain(
      '--audience',
      'robot',
      '--subject',
      'alice@corp.example',
      '--scope',
      'cloud-platform',
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /because: ERR_INVALID_SCOPE: scope not granted for delegation/,
    );
  });

  void test('a forced boundary: ALLOW, and the boundary the token carries', async () => {
    const r = await explain(
      '--audience',
      'share',
      '--scope',
      'devstorage.read_only',
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /access boundary: the grant's \(access_boundary\.mode: force\); downscoped at STS, sha256 [0-9a-f]{16}\n {4}\/\/storage\.googleapis\.com\/projects\/_\/buckets\/partner-a: inRole:roles\/storage\.legacyBucketReader, inRole:roles\/storage\.objectViewer if "resource\.name\.startsWith\('projects\/_\/buckets\/partner-a\/objects\/out\/'\)"\n$/,
    );
  });

  void test('a narrower boundary from a file: ALLOW as asked', async () => {
    const r = await explain(
      '--audience',
      'share',
      '--scope',
      'devstorage.read_only',
      '--access-boundary-file',
      boundaryFile,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /access boundary: as asked, within the grant/);
    assert.match(r.stdout, /partner-a: inRole:roles\/storage\.objectViewer if/);
  });

  void test('a wider boundary: DENY naming what is wider', async () => {
    const r = await explain(
      '--audience',
      'share',
      '--scope',
      'devstorage.read_only',
      '--access-boundary',
      JSON.stringify({
        accessBoundary: {
          accessBoundaryRules: [
            {
              availableResource: BUCKET,
              availablePermissions: ['inRole:roles/storage.objectViewer'],
            },
          ],
        },
      }),
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /because: ERR_INVALID_SCOPE: access_boundary is wider than this grant allows: rule 1: on \/\/storage\.googleapis\.com\/projects\/_\/buckets\/partner-a the grant requires its availability condition, word for word/,
    );
  });

  void test('both boundary options at once is a usage error', async () => {
    const r = await explain(
      '--audience',
      'share',
      '--access-boundary',
      '{}',
      '--access-boundary-file',
      boundaryFile,
    );
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /--access-boundary or --access-boundary-file, not both/,
    );
  });
});

void describe('tvm policy explain FILE: the overview shows delegation and boundaries', () => {
  void test('the table: the users a grant may act for, and the boundary roles by resource', async () => {
    const r = await tvm(['policy', 'explain', policyFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /robot +cloud-platform +1h\n +as user: alice@corp\.example, \*@ops\.example\n +with gmail\.readonly\n/,
    );
    assert.match(
      r.stdout,
      /share +devstorage\.read_only +15m\n +boundary \(force\): \/\/storage\.googleapis\.com\/projects\/_\/buckets\/partner-a storage\.legacyBucketReader, storage\.objectViewer \(if a condition holds\)\n/,
    );
    assert.match(
      r.stdout,
      /\nas user: the Workspace users its access tokens may act for/,
    );
    assert.match(
      r.stdout,
      /\nboundary: a Credential Access Boundary on its access tokens/,
    );
  });

  void test('the JSON: delegation and access_boundary of each grant, null where none', async () => {
    const r = await tvm(['policy', 'explain', policyFile, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      clients: {grants: Record<string, unknown>[]}[];
    };
    const [robot, share] = doc.clients[0]!.grants;
    assert.deepEqual(robot!.delegation, {
      subjects: ['alice@corp.example', '*@ops.example'],
      scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
    });
    assert.equal(robot!.access_boundary, null);
    assert.equal(share!.delegation, null);
    assert.deepEqual(share!.access_boundary, {
      mode: 'force',
      rules: [
        {
          resource: BUCKET,
          permissions: [
            'inRole:roles/storage.legacyBucketReader',
            'inRole:roles/storage.objectViewer',
          ],
          condition:
            "resource.name.startsWith('projects/_/buckets/partner-a/objects/out/')",
        },
      ],
    });
  });
});
