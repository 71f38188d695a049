import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {parse} from '@cdktf/hcl2json';
import {CONFIG_SETTINGS, CONFIG_VARIABLES} from '../../src/config.ts';
import {
  blocks,
  declared,
  isObject,
  formatProblems,
  leastPrivilegeProblems,
  loadConfiguration,
  loadSchemaTable,
  loadSchemaTableV7,
  parseConfiguration,
  locals,
  moduleCallProblems,
  moduleCalls,
  outputs,
  referenceProblems,
  resourcesOfType,
  schemaProblems,
  variableProblems,
  variables,
  versionProblems,
  emptyMapValueProblems,
  secretOutputProblems,
  versionRetentionProblems,
  type Configuration,
  type HclBody,
  type HclValue,
} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MODULE_DIR = join(ROOT, 'terraform/modules/tvm');
const EXAMPLE_DIR = join(ROOT, 'terraform/examples/simple');

const table = loadSchemaTable();
const tableV7 = loadSchemaTableV7(table);
const mod = await loadConfiguration(MODULE_DIR);
const example = await loadConfiguration(EXAMPLE_DIR);

const configs = new Map<string, Configuration>([
  [MODULE_DIR, mod],
  [EXAMPLE_DIR, example],
]);

/** Outputs of a module the example calls by a relative source. */
function outputsBySource(source: string): Set<string> | undefined {
  const conf = configs.get(resolve(EXAMPLE_DIR, source));
  return conf ? new Set(outputs(conf).keys()) : undefined;
}

function only<T>(list: readonly T[], what: string): T {
  assert.equal(list.length, 1, `exactly one ${what}`);
  return list[0]!;
}

function first(body: HclBody, key: string): HclBody {
  return only(blocks(body, key), `${key} block`);
}

void describe('terraform: every .tf parses and matches the Google provider schema', () => {
  for (const [name, conf] of [
    ['module', mod],
    ['example', example],
  ] as const) {
    void test(`${name}: resource and data types, arguments and blocks exist; required ones present`, () => {
      assert.ok(conf.files.length >= 3, `${conf.dir} has .tf files`);
      assert.deepEqual(schemaProblems(conf, table), []);
    });

    void test(`${name}: every var., local., module., data. and resource reference resolves`, async () => {
      assert.deepEqual(
        await referenceProblems(conf, table, outputsBySource),
        [],
      );
    });

    void test(`${name}: every variable has a type and a description; validations are sound`, () => {
      assert.ok(variables(conf).size > 0);
      assert.deepEqual(variableProblems(conf), []);
    });

    void test(`${name}: Terraform and provider versions are bounded and admit the schema's version`, () => {
      assert.deepEqual(versionProblems(conf, table), []);
    });

    void test(`${name}: it also matches the 7.x schema and its constraint admits 7.x`, () => {
      assert.deepEqual(schemaProblems(conf, tableV7), []);
      assert.deepEqual(versionProblems(conf, tableV7), []);
    });

    void test(`${name}: least privilege holds`, () => {
      assert.deepEqual(leastPrivilegeProblems(conf), []);
    });

    void test(`${name}: no empty map values, no secret in outputs, policy versions kept`, () => {
      assert.deepEqual(emptyMapValueProblems(conf), []);
      assert.deepEqual(secretOutputProblems(conf), []);
      assert.deepEqual(versionRetentionProblems(conf), []);
    });
  }

  void test('every .tf file is aligned as terraform fmt aligns it', () => {
    const files = [
      ...mod.files.map(f => join(MODULE_DIR, f.path)),
      ...example.files.map(f => join(EXAMPLE_DIR, f.path)),
      join(EXAMPLE_DIR, 'terraform.tfvars.example'),
    ];
    for (const f of files) {
      assert.deepEqual(formatProblems(f, readFileSync(f, 'utf8')), []);
    }
  });

  void test('the module has the terraform-google-modules layout', () => {
    for (const f of [
      'main.tf',
      'variables.tf',
      'outputs.tf',
      'versions.tf',
      'README.md',
    ]) {
      assert.ok(existsSync(join(MODULE_DIR, f)), `terraform/modules/tvm/${f}`);
    }
    for (const f of [
      'main.tf',
      'variables.tf',
      'outputs.tf',
      'versions.tf',
      'README.md',
      'terraform.tfvars.example',
    ]) {
      assert.ok(
        existsSync(join(EXAMPLE_DIR, f)),
        `terraform/examples/simple/${f}`,
      );
    }
  });
});

void describe('terraform: the module validates what users type', () => {
  const vars = variables(mod);
  const cases: Array<{variable: string; mentions: RegExp}> = [
    {variable: 'project_id', mentions: /regex/},
    {variable: 'region', mentions: /regex\("\^\(africa\|asia/},
    {variable: 'name', mentions: /regex/},
    {variable: 'available_memory', mentions: /contains\(\["128Mi"/},
    {variable: 'available_cpu', mentions: /contains/},
    {variable: 'ingress_settings', mentions: /contains\(\["ALLOW_ALL"/},
    {variable: 'log_level', mentions: /contains/},
    {variable: 'redis_tier', mentions: /contains/},
    {variable: 'timeout_seconds', mentions: /3600/},
    {variable: 'max_instance_request_concurrency', mentions: /1000/},
    {variable: 'min_instance_count', mentions: />= 0/},
    {variable: 'max_instance_count', mentions: />= 1/},
    {variable: 'trusted_proxy_hops', mentions: /<= 5/},
    {variable: 'service_accounts', mentions: /iam\\\\\.gserviceaccount/},
    {
      variable: 'service_accounts',
      mentions: /contains\(\["impersonate", "key", "user"\]/,
    },
    {variable: 'build_service_account', mentions: /gserviceaccount/},
    {variable: 'issuer_url', mentions: /\^https:/},
    {variable: 'vpc_connector_cidr', mentions: /cidrhost/},
    {variable: 'policy_file', mentions: /ya\?ml/},
  ];
  for (const c of cases) {
    void test(`${c.variable} has a validation matching ${c.mentions}`, () => {
      const v = vars.get(c.variable);
      assert.ok(v, `variable ${c.variable}`);
      const conditions = blocks(v, 'validation').map(b => String(b.condition));
      assert.ok(
        conditions.some(cond => c.mentions.test(cond)),
        `${c.variable}: ${conditions.join(' | ')}`,
      );
    });
  }

  void test('who may invoke is an explicit choice: invoker has no default and names the three ways', () => {
    const v = vars.get('invoker');
    assert.ok(v);
    assert.equal(v.type, '${string}');
    assert.ok(!('default' in v), 'no default');
    assert.match(
      String(blocks(v, 'validation')[0]?.condition),
      /contains\(\["allUsers", "no_iam_check", "iam"\], var\.invoker\)/,
    );
    assert.match(String(v.description), /Domain Restricted Sharing/);
    assert.match(String(v.description), /--no-invoker-iam-check/);
  });
});

void describe('terraform: the function', () => {
  const fn = only(
    resourcesOfType(mod, 'google_cloudfunctions2_function'),
    'function',
  );
  const build = first(fn.body, 'build_config');
  const service = first(fn.body, 'service_config');

  void test('runs nodejs24 with the tvm entry point, from the zip in the source bucket', () => {
    assert.equal(build.runtime, 'nodejs24');
    assert.equal(build.entry_point, 'tvm');
    const storage = first(first(build, 'source'), 'storage_source');
    assert.equal(storage.bucket, '${local.source_bucket}');
    assert.equal(storage.object, '${google_storage_bucket_object.source.name}');
    const object = only(
      resourcesOfType(mod, 'google_storage_bucket_object'),
      'object',
    );
    assert.equal(object.body.source, '${var.source_zip_path}');
    assert.equal(object.body.name, '${local.source_object_name}');
  });

  void test('the build sets no environment: the buildpack runs the gcp-build script', () => {
    assert.equal(build.environment_variables, undefined);
    const pkg = JSON.parse(
      readFileSync(join(ROOT, 'package.json'), 'utf8'),
    ) as {
      scripts: Record<string, string>;
    };
    assert.ok(pkg.scripts['gcp-build'], 'package.json has gcp-build');
  });

  void test('runs as the dedicated runtime service account', () => {
    assert.equal(service.service_account_email, '${local.runtime_email}');
    const sa = only(
      resourcesOfType(mod, 'google_service_account'),
      'service account',
    );
    assert.equal(
      sa.body.count,
      '${var.runtime_service_account_email == null ? 1 : 0}',
    );
    assert.equal(
      locals(mod).get('runtime_email'),
      '${var.runtime_service_account_email != null ? var.runtime_service_account_email : google_service_account.runtime[0].email}',
    );
  });

  void test('memory, cpu, timeout, concurrency, instances and ingress come from variables', () => {
    const want: Record<string, string> = {
      available_memory: 'available_memory',
      available_cpu: 'available_cpu',
      timeout_seconds: 'timeout_seconds',
      max_instance_request_concurrency: 'max_instance_request_concurrency',
      min_instance_count: 'min_instance_count',
      max_instance_count: 'max_instance_count',
      ingress_settings: 'ingress_settings',
    };
    for (const [arg, variable] of Object.entries(want)) {
      assert.equal(service[arg], `\${var.${variable}}`, arg);
    }
  });

  void test('reads the policy through the Secret Manager API: nothing is mounted', () => {
    assert.equal(service.secret_environment_variables, undefined);
    assert.equal(service.secret_volumes, undefined);
  });
});

/** The literal keys an expression yields, following local. references; undefined if unknown. */
function literalKeys(
  value: HclValue | undefined,
  seen = new Set<string>(),
): string[] | undefined {
  if (isObject(value)) return Object.keys(value);
  if (typeof value !== 'string') return undefined;
  const refs = [...value.matchAll(/\b(local|var|module|data)\.([a-z0-9_]+)/g)];
  if (refs.length === 0) return undefined;
  const keys: string[] = [];
  for (const [, root, name] of refs) {
    if (root !== 'local' || !name || seen.has(name)) return undefined;
    seen.add(name);
    const inner = literalKeys(locals(mod).get(name), seen);
    if (!inner) return undefined;
    keys.push(...inner);
  }
  return keys;
}

void describe('terraform: the function environment is the contract (src/config.ts)', () => {
  const fn = only(
    resourcesOfType(mod, 'google_cloudfunctions2_function'),
    'function',
  );
  const service = first(fn.body, 'service_config');
  const keys = literalKeys(service.environment_variables);

  void test('the keys are literal, so they can be checked', () => {
    assert.ok(keys && keys.length > 0, String(service.environment_variables));
  });

  void test('every variable the module sets is one that CONFIG_VARIABLES lists', () => {
    const accepted = new Set(Object.keys(CONFIG_VARIABLES));
    assert.deepEqual(
      keys?.filter(k => !accepted.has(k)),
      [],
      'variables tvm does not read',
    );
  });

  void test('it sets where the policy is and the issuer', () => {
    assert.ok(keys?.includes('TVM_POLICY'));
    assert.ok(keys?.includes('TVM_ISSUER'));
  });

  void test('it leaves the platform, local mode and test endpoints alone', () => {
    const notByModule = CONFIG_SETTINGS.filter(s => s.setBy !== 'module').map(
      s => s.variable as string,
    );
    for (const k of [
      'PORT',
      'TVM_LOCAL',
      'GCE_METADATA_HOST',
      'TVM_IAM_CREDENTIALS_ENDPOINT',
      'TVM_OAUTH2_TOKEN_URL',
      'TVM_SECRET_MANAGER_ENDPOINT',
      'TVM_STS_ENDPOINT',
    ]) {
      assert.ok(
        notByModule.includes(k),
        `${k} is declared as not set by the module`,
      );
    }
    for (const k of notByModule) {
      assert.ok(!keys?.includes(k), k);
    }
  });

  void test('it sets exactly the variables src/config.ts declares as set by the module', () => {
    assert.deepEqual(
      [...(keys ?? [])].sort(),
      CONFIG_SETTINGS.filter(s => s.setBy === 'module')
        .map(s => s.variable as string)
        .sort(),
    );
  });

  void describe('each module variable feeding the environment states the range, values and default tvm applies', () => {
    const candidates = locals(mod).get('environment_candidates');
    const vars = variables(mod);
    void test('the environment is built from one literal map', () => {
      assert.ok(isObject(candidates));
      assert.deepEqual(
        Object.keys(candidates).sort(),
        [...(keys ?? [])].sort(),
      );
    });
    for (const s of CONFIG_SETTINGS.filter(x => x.setBy === 'module')) {
      const value = isObject(candidates) ? String(candidates[s.variable]) : '';
      const name = /\bvar\.([a-z0-9_]+)/.exec(value)?.[1];
      if (!name) continue; // computed in the module (TVM_POLICY, TVM_ISSUER)
      void test(`${s.variable} ← var.${name}`, () => {
        const v = vars.get(name);
        assert.ok(v, `variable ${name} declared`);
        const description = String(v.description);
        const condition = blocks(v, 'validation')
          .map(b => String(b.condition))
          .join(' ');
        assert.ok(
          description.startsWith(`${s.variable}: `),
          `the description of ${name} names ${s.variable}`,
        );
        if (s.range) {
          const {min, max} = s.range;
          assert.ok(description.includes(`(${min} to ${max})`), description);
          assert.ok(condition.includes(`var.${name} >= ${min}`), condition);
          assert.ok(condition.includes(`var.${name} <= ${max}`), condition);
          assert.match(condition, /floor\(/, 'integers only');
        }
        if (s.allowed) {
          const listed = /contains\(\[([^\]]*)\]/.exec(condition)?.[1];
          assert.deepEqual(
            listed?.split(',').map(x => JSON.parse(x.trim()) as string),
            [...s.allowed],
          );
          assert.ok(description.includes(s.allowed.join(', ')), description);
        }
        const tvmDefault = s.defaultText?.replace(/^`(.*)`$/, '$1');
        if (v.default === null) {
          // Null leaves the variable unset: tvm's own default applies.
          assert.ok(tvmDefault !== undefined, `${s.variable} has a default`);
          assert.ok(
            description.includes(`Null: tvm's default (${tvmDefault}).`),
            description,
          );
        } else if (s.allowed) {
          assert.ok(s.allowed.includes(String(v.default)), String(v.default));
        }
      });
    }
  });

  void test('TVM_POLICY names the latest version of the policy secret, so updates need no redeploy', () => {
    assert.equal(
      locals(mod).get('policy_source'),
      '${local.policy_secret_id}/versions/latest',
    );
  });

  void test('TVM_ISSUER is the predictable function URL unless issuer_url overrides it', () => {
    const issuer = String(locals(mod).get('issuer'));
    assert.match(issuer, /var\.issuer_url/);
    assert.match(
      issuer,
      /https:\/\/\$\{var\.region\}-\$\{var\.project_id\}\.cloudfunctions\.net\/\$\{local\.function_name\}/,
    );
    assert.doesNotMatch(
      issuer,
      /google_cloudfunctions2_function/,
      'no dependency cycle',
    );
  });
});

void describe('terraform: least-privilege grants of the module', () => {
  const iam = declared(mod).filter(
    d => /_iam_/.test(d.type) && d.type !== 'google_project_iam_custom_role',
  );

  void test('the only roles granted are the minter custom role, secret access and (optionally) invocation', () => {
    assert.deepEqual([...new Set(iam.map(d => d.body.role))].sort(), [
      '${google_project_iam_custom_role.minter[each.value].name}',
      'roles/run.invoker',
      'roles/secretmanager.secretAccessor',
    ]);
    assert.ok(
      !JSON.stringify(mod.files).includes('serviceAccountTokenCreator'),
      'not the whole of roles/iam.serviceAccountTokenCreator',
    );
  });

  void test('the minter role is granted on each impersonated target account, to the runtime account', () => {
    const g = only(
      iam.filter(d => d.type === 'google_service_account_iam_member'),
      'minter grant',
    );
    assert.equal(g.body.for_each, '${local.minter_variant}');
    assert.equal(
      g.body.service_account_id,
      'projects/${local.impersonated[each.key].project}/serviceAccounts/${each.key}',
    );
    assert.equal(g.body.member, '${local.runtime_member}');
    assert.match(
      String(locals(mod).get('impersonated')),
      /sa\.mint == "impersonate"/,
    );
    assert.equal(
      locals(mod).get('runtime_member'),
      'serviceAccount:${local.runtime_email}',
    );
    const role = only(
      resourcesOfType(mod, 'google_project_iam_custom_role'),
      'custom role',
    );
    assert.equal(role.body.for_each, '${local.minter_roles}');
    assert.equal(role.body.permissions, '${each.value.permissions}');
    assert.equal(role.body.project, '${each.value.project}');
  });

  void test('secret access is granted on the policy secret and on each key or user credential secret, to the runtime account', () => {
    const grants = iam.filter(
      d => d.body.role === 'roles/secretmanager.secretAccessor',
    );
    assert.deepEqual(
      grants.map(g => g.type),
      [
        'google_secret_manager_secret_iam_member',
        'google_secret_manager_secret_iam_member',
        'google_secret_manager_secret_iam_member',
        'google_secret_manager_secret_iam_member',
      ],
    );
    // With enable_redis: the AUTH string and the cache key, when they are the module's
    // own secrets (the bootstrap's, with create_redis_secrets = false, it leaves alone).
    assert.equal(
      locals(mod).get('redis_secrets'),
      '${var.enable_redis && var.create_redis_secrets}',
    );
    for (const [name, secret] of [
      ['redis_auth_accessor', 'redis_auth'],
      ['cache_key_accessor', 'cache_key'],
    ] as const) {
      const g = only(
        grants.filter(x => x.name === name),
        name,
      );
      assert.equal(g.body.count, '${local.redis_secrets ? 1 : 0}');
      assert.equal(
        g.body.secret_id,
        `\${google_secret_manager_secret.${secret}[0].id}`,
      );
    }
    for (const g of grants)
      assert.equal(g.body.member, '${local.runtime_member}');
    const policy = only(
      grants.filter(g => g.name === 'policy_accessor'),
      'policy accessor',
    );
    assert.equal(policy.body.secret_id, '${local.policy_secret_id}');
    const keys = only(
      grants.filter(g => g.name === 'key_accessor'),
      'key accessor',
    );
    assert.equal(keys.body.for_each, '${local.key_secret_names}');
    assert.match(
      String(locals(mod).get('key_secret_names')),
      /if contains\(\["key", "user"\], sa\.mint\)/,
    );
  });

  void test('allUsers may invoke only when invoker is "allUsers"', () => {
    const invoker = only(
      iam.filter(d => d.body.member === 'allUsers'),
      'public grant',
    );
    assert.equal(invoker.type, 'google_cloud_run_v2_service_iam_member');
    assert.equal(invoker.body.count, '${var.invoker == "allUsers" ? 1 : 0}');
    assert.equal(
      invoker.body.name,
      '${google_cloudfunctions2_function.tvm.name}',
    );
  });

  void test("the shared store's secrets: the module's own, or the bootstrap's under the same names, untouched", () => {
    for (const [type, name] of [
      ['google_secret_manager_secret', 'redis_auth'],
      ['google_secret_manager_secret', 'cache_key'],
      ['google_secret_manager_secret_version', 'redis_auth'],
    ] as const) {
      const r = only(
        resourcesOfType(mod, type).filter(x => x.name === name),
        `${type}.${name}`,
      );
      assert.equal(r.body.count, '${local.redis_secrets ? 1 : 0}', name);
    }
    // Whatever touches them (a version, a grant) exists only when they are the module's.
    const touching = declared(mod).filter(d =>
      /google_secret_manager_secret\.(redis_auth|cache_key)\[/.test(
        JSON.stringify(d.body),
      ),
    );
    assert.deepEqual(touching.map(d => `${d.type}.${d.name}`).sort(), [
      'google_secret_manager_secret_iam_member.cache_key_accessor',
      'google_secret_manager_secret_iam_member.redis_auth_accessor',
      'google_secret_manager_secret_version.redis_auth',
    ]);
    for (const d of touching) {
      assert.equal(d.body.count, '${local.redis_secrets ? 1 : 0}', d.name);
    }
    const l = locals(mod);
    assert.equal(
      l.get('redis_auth_secret_name'),
      '${local.redis_secrets ? google_secret_manager_secret.redis_auth[0].id : "projects/${var.project_id}/secrets/${local.redis_auth_secret_id}"}',
    );
    assert.equal(
      l.get('cache_key_secret_name'),
      '${local.redis_secrets ? google_secret_manager_secret.cache_key[0].id : "projects/${var.project_id}/secrets/${local.cache_key_secret_id}"}',
    );
    assert.equal(
      l.get('redis_auth_secret'),
      '${var.enable_redis ? "${local.redis_auth_secret_name}/versions/latest" : null}',
    );
    assert.equal(
      l.get('cache_key_secret'),
      '${var.enable_redis ? "${local.cache_key_secret_name}/versions/latest" : null}',
    );
    const v = variables(mod).get('create_redis_secrets');
    assert.equal(v?.default, true);
  });

  void test('Redis and the VPC connector exist only with enable_redis', () => {
    for (const type of [
      'google_redis_instance',
      'google_vpc_access_connector',
    ]) {
      const r = only(resourcesOfType(mod, type), type);
      assert.equal(r.body.count, '${var.enable_redis ? 1 : 0}', type);
    }
  });
});

void describe('terraform: the example root calls the module as a user would', () => {
  void test('it calls ../../modules/tvm with only the module variables, and every required one', () => {
    assert.equal(moduleCalls(example).get('tvm')?.source, '../../modules/tvm');
    assert.deepEqual(moduleCallProblems(example, 'tvm', mod), []);
  });

  void test('terraform.tfvars.example sets only declared variables, and every required one', async () => {
    const text = readFileSync(
      join(EXAMPLE_DIR, 'terraform.tfvars.example'),
      'utf8',
    );
    const tfvars = (await parse('terraform.tfvars', text)) as HclBody;
    const vars = variables(example);
    assert.deepEqual(
      Object.keys(tfvars).filter(k => !vars.has(k)),
      [],
    );
    const required = [...vars]
      .filter(([, v]) => !('default' in v))
      .map(([k]) => k);
    assert.deepEqual(
      required.filter(k => !(k in tfvars)),
      [],
    );
  });

  void test('it keeps its state in a GCS backend configured at init', () => {
    const backends = example.files
      .flatMap(f => blocks(f.body, 'terraform'))
      .flatMap(t => {
        const b = t.backend;
        return isObject(b) ? Object.keys(b) : [];
      });
    assert.deepEqual(backends, ['gcs']);
  });
});

/** The first column of the markdown table under `heading`, as names. */
function tableNames(
  markdown: string,
  heading: string,
): Array<{name: string; cells: string[]}> {
  const start = markdown.indexOf(`## ${heading}`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const rest = markdown.slice(start + 3);
  const section = rest.slice(
    0,
    rest.search(/\n## /) >= 0 ? rest.search(/\n## /) : undefined,
  );
  const rows: Array<{name: string; cells: string[]}> = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m) rows.push({name: m[1]!, cells: m[2]!.split('|').map(c => c.trim())});
  }
  return rows;
}

void describe('terraform: the module README documents every input and output', () => {
  const readme = readFileSync(join(MODULE_DIR, 'README.md'), 'utf8');

  void test('the Inputs table lists exactly the variables, with the right "required" column', () => {
    const rows = tableNames(readme, 'Inputs');
    const vars = variables(mod);
    assert.deepEqual(rows.map(r => r.name).sort(), [...vars.keys()].sort());
    for (const r of rows) {
      const required = !('default' in vars.get(r.name)!);
      assert.equal(
        r.cells.at(-1),
        required ? 'yes' : 'no',
        `${r.name} required column`,
      );
    }
  });

  void test('the Outputs table lists exactly the outputs', () => {
    const rows = tableNames(readme, 'Outputs');
    assert.deepEqual(
      rows.map(r => r.name).sort(),
      [...outputs(mod).keys()].sort(),
    );
  });
});

void describe('terraform: the 7.x table differs from 6.x where the 7.0.0 guide says', () => {
  void test('service_config.service became read-only and event_trigger.event_type required', async () => {
    const conf = await parseConfiguration({
      'main.tf': `resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  service_config {
    service = "s"
  }
  event_trigger {
    trigger_region = "europe-west1"
  }
}`,
    });
    assert.deepEqual(schemaProblems(conf, table), []);
    assert.deepEqual(schemaProblems(conf, tableV7).sort(), [
      'main.tf: google_cloudfunctions2_function.f.event_trigger: required argument "event_type" is missing',
      'main.tf: google_cloudfunctions2_function.f.service_config: "service" is read-only (computed by the provider)',
    ]);
  });

  void test('removed types are gone', async () => {
    const conf = await parseConfiguration({
      'main.tf': `resource "google_tpu_node" "t" {
  name = "t"
  zone = "europe-west4-a"
  accelerator_type = "v3-8"
  tensorflow_version = "2.1"
}`,
    });
    assert.deepEqual(schemaProblems(conf, table), []);
    assert.match(
      schemaProblems(conf, tableV7).join(),
      /no resource type google_tpu_node in .* 7\.0\.0/,
    );
  });
});

void describe('terraform: the checks of dropped values, secret outputs and version retention catch', () => {
  void test('an empty build environment value, a Redis AUTH output, a destroyed version', async () => {
    const conf = await parseConfiguration({
      'main.tf': `resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  build_config {
    environment_variables = {
      GOOGLE_NODE_RUN_SCRIPTS = ""
    }
  }
}
resource "google_secret_manager_secret_version" "v" {
  secret      = "s"
  secret_data = "x"
}
output "redis_auth" {
  value = google_redis_instance.store[0].auth_string
}`,
    });
    assert.match(
      emptyMapValueProblems(conf).join(),
      /GOOGLE_NODE_RUN_SCRIPTS: an empty string in a map/,
    );
    assert.match(
      secretOutputProblems(conf).join(),
      /output\.redis_auth: exposes auth_string/,
    );
    assert.equal(versionRetentionProblems(conf).length, 2);
  });
});
