/**
 * terraform/bootstrap: the state bucket, the pipeline accounts and their grants, the
 * triggers. Offline, like terraform.test.ts: HashiCorp's parser and the provider schema
 * tables, plus the real Terraform binary for formatting.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {join, resolve} from 'node:path';
import {
  blocks,
  declared,
  emptyMapValueProblems,
  leastPrivilegeProblems,
  locals,
  outputs,
  secretOutputProblems,
  loadConfiguration,
  loadSchemaTable,
  loadSchemaTableV7,
  referenceProblems,
  resourcesOfType,
  schemaProblems,
  variableProblems,
  variables,
  versionProblems,
  type Declared,
} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const table = loadSchemaTable();
const tableV7 = loadSchemaTableV7(table);
const boot = await loadConfiguration(join(ROOT, 'terraform/bootstrap'));
const mod = await loadConfiguration(join(ROOT, 'terraform/modules/tvm'));

/** Roles granted at project level, each for a reason the README gives. */
const PROJECT_ROLES = [
  'roles/logging.logWriter',
  'roles/cloudfunctions.developer',
  '${google_project_iam_custom_role.deployer_run_iam.name}',
  '${each.value}', // roles/logging.configWriter and roles/monitoring.editor
  'roles/iam.roleAdmin',
  'roles/storage.objectViewer', // gcf-v2-sources-* by condition
];
// (`${each.value}` also covers deployer_redis: roles/redis.admin, roles/vpcaccess.admin
// and roles/compute.networkViewer, with enable_redis; checked below.)

function one(type: string, name: string): Declared {
  const d = resourcesOfType(boot, type).find(x => x.name === name);
  assert.ok(d, `${type}.${name}`);
  return d;
}

const DEPLOYER = 'serviceAccount:${google_service_account.deployer.email}';

void describe('terraform/bootstrap: checked like the module', () => {
  void test('schema (6.50 and 7.x), references, variables, versions', async () => {
    assert.deepEqual(schemaProblems(boot, table), []);
    assert.deepEqual(schemaProblems(boot, tableV7), []);
    assert.deepEqual(await referenceProblems(boot, table), []);
    assert.deepEqual(variableProblems(boot), []);
    assert.deepEqual(versionProblems(boot, table), []);
    assert.deepEqual(versionProblems(boot, tableV7), []);
    assert.deepEqual(emptyMapValueProblems(boot), []);
    assert.deepEqual(secretOutputProblems(boot), []);
  });

  void test('least privilege: project-level grants only for the roles that have no lower level', () => {
    assert.deepEqual(
      leastPrivilegeProblems(boot, {projectRolesAllowed: PROJECT_ROLES}),
      [],
    );
    const projectGrants = resourcesOfType(boot, 'google_project_iam_member');
    const monitoring = projectGrants.find(
      g => g.name === 'deployer_monitoring',
    );
    assert.match(
      String(monitoring?.body.for_each),
      /\["roles\/logging\.configWriter", "roles\/monitoring\.editor"\]/,
    );
    const staged = one(
      'google_project_iam_member',
      'function_build_staged_source',
    );
    assert.match(
      String(blocks(staged.body, 'condition')[0]?.expression),
      /resource\.name\.startsWith\("projects\/_\/buckets\/gcf-v2-sources-"\)/,
    );
  });

  void test('the deployer has no project-level serviceAccountUser or secretmanager.admin', () => {
    for (const g of declared(boot).filter(d => /_iam_member$/.test(d.type))) {
      if (g.body.member !== DEPLOYER) continue;
      if (g.type === 'google_project_iam_member') {
        assert.notEqual(g.body.role, 'roles/iam.serviceAccountUser', g.name);
        assert.notEqual(g.body.role, 'roles/secretmanager.admin', g.name);
      }
    }
    const actAs = one('google_service_account_iam_member', 'deployer_acts_as');
    assert.equal(actAs.body.role, 'roles/iam.serviceAccountUser');
    assert.match(
      JSON.stringify(actAs.body.for_each),
      /google_service_account\.runtime\.name/,
    );
    assert.match(
      JSON.stringify(actAs.body.for_each),
      /google_service_account\.function_build\.name/,
    );
    const policy = one(
      'google_secret_manager_secret_iam_member',
      'deployer_policy',
    );
    assert.equal(
      policy.body.secret_id,
      '${google_secret_manager_secret.policy.secret_id}',
    );
  });

  void test('every account that runs builds, the trigger accounts included, writes logs', () => {
    const w = one('google_project_iam_member', 'log_writer');
    assert.equal(w.body.role, 'roles/logging.logWriter');
    assert.equal(w.body.for_each, '${local.log_writers}');
    const writers = JSON.stringify(
      boot.files
        .flatMap(f => blocks(f.body, 'locals'))
        .find(l => l.log_writers !== undefined)?.log_writers,
    );
    for (const sa of ['pr', 'ci', 'deployer', 'function_build']) {
      assert.match(
        writers,
        new RegExp(`google_service_account\\.${sa}\\.email`),
      );
    }
  });
});

void describe('terraform/bootstrap: the state bucket', () => {
  const state = one('google_storage_bucket', 'state');

  void test('has no default name anyone could claim', () => {
    const v = variables(boot).get('state_bucket_name');
    assert.ok(v && !('default' in v));
    assert.equal(state.body.name, '${var.state_bucket_name}');
  });

  void test('is versioned, uniform, never public, and kept', () => {
    assert.equal(blocks(state.body, 'versioning')[0]?.enabled, true);
    assert.equal(state.body.uniform_bucket_level_access, true);
    assert.equal(state.body.public_access_prevention, 'enforced');
    assert.equal(state.body.force_destroy, false);
    assert.equal(blocks(state.body, 'lifecycle')[0]?.prevent_destroy, true);
  });
});

void describe('terraform/bootstrap: the triggers', () => {
  const trigger = (name: string) => one('google_cloudbuild_trigger', name);

  void test('three distinct accounts: pull requests, builds, deploys', () => {
    assert.equal(
      trigger('pr').body.service_account,
      '${google_service_account.pr.id}',
    );
    assert.equal(
      trigger('build').body.service_account,
      '${google_service_account.ci.id}',
    );
    assert.equal(
      trigger('deploy').body.service_account,
      '${google_service_account.deployer.id}',
    );
    const ids = ['pr', 'ci', 'deployer'].map(
      n => one('google_service_account', n).body.account_id,
    );
    assert.equal(new Set(ids).size, 3);
  });

  void test('no pull-request trigger runs as the deployer; the deploy needs approval', () => {
    for (const t of resourcesOfType(boot, 'google_cloudbuild_trigger')) {
      const gh = blocks(t.body, 'github')[0];
      if (gh && blocks(gh, 'pull_request').length > 0) {
        assert.doesNotMatch(String(t.body.service_account), /deployer/, t.name);
        assert.notEqual(t.body.filename, 'cloudbuild-deploy.yaml', t.name);
      }
      if (String(t.body.service_account).includes('deployer')) {
        assert.equal(blocks(gh!, 'pull_request').length, 0);
        assert.equal(
          blocks(t.body, 'approval_config')[0]?.approval_required,
          true,
        );
        assert.equal(t.body.filename, 'cloudbuild-deploy.yaml');
      }
    }
    assert.equal(
      (trigger('pr').body.substitutions as Record<string, string>)._PUBLISH,
      'false',
    );
    assert.equal(
      (trigger('build').body.substitutions as Record<string, string>)._PUBLISH,
      'true',
    );
  });

  void test('only the main-branch build account may publish artifacts', () => {
    const publishers = declared(boot).filter(
      d =>
        d.type === 'google_storage_bucket_iam_member' &&
        d.body.bucket === '${google_storage_bucket.artifacts.name}' &&
        d.body.role !== 'roles/storage.objectViewer',
    );
    assert.deepEqual(
      publishers.map(p => [p.body.role, p.body.member]),
      [
        [
          'roles/storage.objectCreator',
          'serviceAccount:${google_service_account.ci.email}',
        ],
      ],
    );
  });
});

void describe("terraform/bootstrap: the shared store's secrets (enable_redis)", () => {
  const RUNTIME = 'serviceAccount:${google_service_account.runtime.email}';
  const REDIS_SECRET = /google_secret_manager_secret\.redis\[/;

  void test('off by default; with it, the two secrets under the names the module reads', () => {
    assert.equal(variables(boot).get('enable_redis')?.default, false);
    const names = String(locals(boot).get('redis_secrets'));
    assert.match(names, /^\$\{var\.enable_redis \? \{/);
    assert.match(names, /: \{\}\}$/);
    // The module's own names (names.tf), so TVM_REDIS_AUTH_SECRET and
    // TVM_CACHE_KEY_SECRET name these secrets when create_redis_secrets = false.
    const m = locals(mod);
    for (const [key, local] of [
      ['redis_auth', 'redis_auth_secret_id'],
      ['cache_key', 'cache_key_secret_id'],
    ] as const) {
      const id = String(m.get(local));
      assert.match(id, /^\$\{var\.name\}-/);
      assert.ok(
        names.includes(`${key} = "${id}"`) ||
          names.includes(`${key}  = "${id}"`),
        `${key} is ${id}`,
      );
    }
    const secret = one('google_secret_manager_secret', 'redis');
    assert.equal(secret.body.for_each, '${local.redis_secrets}');
    assert.equal(secret.body.secret_id, '${each.value}');
    assert.deepEqual(blocks(secret.body, 'replication'), [{auto: [{}]}]);
  });

  void test('tvm-runtime is the only principal granted anything on them; no version is in Terraform', () => {
    const grants = declared(boot).filter(
      d => /_iam_/.test(d.type) && REDIS_SECRET.test(JSON.stringify(d.body)),
    );
    assert.deepEqual(
      grants.map(g => [g.type, g.name]),
      [['google_secret_manager_secret_iam_member', 'runtime_redis']],
    );
    const g = grants[0]!;
    assert.equal(g.body.for_each, '${local.redis_secrets}');
    assert.equal(
      g.body.secret_id,
      '${google_secret_manager_secret.redis[each.key].secret_id}',
    );
    assert.equal(g.body.role, 'roles/secretmanager.secretAccessor');
    assert.equal(g.body.member, RUNTIME);
    // No project-wide Secret Manager role for anyone: nothing reaches them from above.
    for (const p of resourcesOfType(boot, 'google_project_iam_member')) {
      assert.doesNotMatch(
        JSON.stringify(p.body),
        /roles\/secretmanager\./,
        p.name,
      );
    }
    // Their values are added by a project owner, never through a plan.
    assert.deepEqual(
      resourcesOfType(boot, 'google_secret_manager_secret_version'),
      [],
    );
  });

  void test("the deployer's project roles for the instance and the connector, only with enable_redis", () => {
    const r = one('google_project_iam_member', 'deployer_redis');
    assert.equal(r.body.member, '${local.deployer}');
    assert.equal(r.body.role, '${each.value}');
    assert.equal(
      r.body.for_each,
      '${var.enable_redis ? toset(["roles/redis.admin", "roles/vpcaccess.admin", "roles/compute.networkViewer"]) : toset([])}',
    );
    const apis = String(locals(boot).get('apis'));
    assert.match(
      apis,
      /var\.enable_redis \? \[\s*"compute\.googleapis\.com",\s*"redis\.googleapis\.com",\s*"vpcaccess\.googleapis\.com",\s*\] : \[\]/,
    );
  });

  void test('module_inputs tells the module to use them, and names only module variables', () => {
    const inputs = outputs(boot).get('module_inputs')?.value as Record<
      string,
      unknown
    >;
    assert.equal(inputs.create_redis_secrets, '${!var.enable_redis}');
    const vars = variables(mod);
    assert.deepEqual(
      Object.keys(inputs).filter(k => !vars.has(k)),
      [],
    );
    assert.equal(vars.get('create_redis_secrets')?.default, true);
    const names = outputs(boot).get('redis_secrets');
    assert.equal(
      names?.value,
      '${var.enable_redis ? { for k, s in google_secret_manager_secret.redis : k => s.id } : null}',
    );
  });
});
