/**
 * The module's validations and derived names, evaluated by the real Terraform binary
 * (provider-free files only: see terraform-eval.ts). A bad name fails at plan time with
 * a clear message; a good one gives the names Google accepts; the example's tfvars pass;
 * the object name needs no zip (terraform destroy); the minter roles hold only the
 * permissions asked for.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {parse} from '@cdktf/hcl2json';
import {evaluate, terraformVersion} from './terraform-eval.ts';
import {loadConfiguration, moduleCalls} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const version = await terraformVersion();
// Only a pipeline that says it has no terraform (Cloud Build's test step, whose image
// carries none; these checks run in .ci/run) may go without them; anywhere else a
// missing binary fails loudly rather than passing by skipping.
const withoutTerraform = process.env.TVM_TEST_WITHOUT_TERRAFORM === '1';
if (version === undefined && !withoutTerraform) {
  throw new Error(
    'terraform is not on PATH: these checks need it (set TVM_TEST_WITHOUT_TERRAFORM=1 only where terraform cannot be installed)',
  );
}
const skip = version === undefined ? 'TVM_TEST_WITHOUT_TERRAFORM=1' : false;

const BASE = {
  project_id: 'my-tvm-project',
  region: 'europe-west1',
  source_zip_path: '/nonexistent/function-source.zip',
  policy_file: 'policy.yaml',
  invoker: 'allUsers',
};
const NAMES = [
  'function_name',
  'source_bucket_name',
  'source_object_name',
  'vpc_connector_name',
  'redis_instance_name',
  'minter_role_prefix',
];

/** Google's rules for each derived name (the strictest published form). */
const GOOGLE_RULES: Record<string, RegExp> = {
  function_name: /^[a-z][a-z0-9-]{2,47}[a-z0-9]$/,
  source_bucket_name: /^(?!goog)(?!.*google)[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$/,
  vpc_connector_name: /^[a-z][-a-z0-9]{0,23}[a-z0-9]$/,
  redis_instance_name: /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/,
};
const ROLE_ID = /^[a-zA-Z0-9_.]{3,64}$/;

/** Runs `cases` two at a time (the machine has two cores). */
async function all<T, R>(
  cases: readonly T[],
  f: (c: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      out[i] = await f(cases[i]!);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

void describe(
  'terraform: derived names are valid or refused at plan time',
  {skip},
  () => {
    const good: Array<{name: string; vars: Record<string, unknown>}> = [
      {name: 'the defaults', vars: {}},
      {name: 'a 4-character name', vars: {name: 'tvm1'}},
      {
        name: 'a 49-character name with an explicit bucket',
        vars: {name: `t${'v'.repeat(47)}m`, source_bucket_name: 'tvm-src'},
      },
      {
        name: 'a 30-character project and a 25-character name',
        vars: {project_id: `p${'r'.repeat(28)}j`, name: `n${'a'.repeat(24)}`},
      },
      {
        name: 'a 19-character name with Redis',
        vars: {name: `r${'e'.repeat(18)}`, enable_redis: true},
      },
    ];
    for (const c of good) {
      void test(`accepted: ${c.name}`, async () => {
        const r = await evaluate({...BASE, ...c.vars}, NAMES);
        assert.deepEqual(r.errors, []);
        for (const [local, rule] of Object.entries(GOOGLE_RULES)) {
          // The connector and the instance exist only with enable_redis.
          if (/^(vpc|redis)_/.test(local) && c.vars.enable_redis !== true)
            continue;
          assert.match(String(r.values[local]), rule, local);
        }
        assert.match(`${String(r.values.minter_role_prefix)}_id_jwt`, ROLE_ID);
      });
    }

    const bad: Array<{
      name: string;
      vars: Record<string, unknown>;
      want: RegExp;
    }> = [
      {
        name: 'the old default "tvm"',
        vars: {name: 'tvm'},
        want: /name must be 4 to 49/,
      },
      {
        name: 'upper case',
        vars: {name: 'Tvm-prod'},
        want: /name must be 4 to 49/,
      },
      {
        name: 'a trailing hyphen',
        vars: {name: 'tvm-prod-'},
        want: /name must be 4 to 49/,
      },
      {
        name: '50 characters',
        vars: {name: `t${'v'.repeat(48)}m`},
        want: /name must be 4 to 49/,
      },
      {
        name: 'a default bucket name over 63 characters',
        vars: {project_id: `p${'r'.repeat(28)}j`, name: `n${'a'.repeat(25)}`},
        want: /longer than 63 characters/,
      },
      {
        name: '"google" in the default bucket name',
        vars: {name: 'google-tvm'},
        want: /would contain "google"/,
      },
      {
        name: 'a 20-character name with Redis (connector over 25)',
        vars: {name: `r${'e'.repeat(19)}`, enable_redis: true},
        want: /VPC connector <name>-redis must be at most 25/,
      },
      {
        name: 'a bucket beginning with goog',
        vars: {source_bucket_name: 'goog-tvm-source'},
        want: /must not begin with "goog"/,
      },
      {
        name: 'a policy secret id with a slash',
        vars: {policy_secret_id: 'tvm/policy'},
        want: /policy_secret_id must be 1 to 255/,
      },
      {
        name: 'a runtime account id of 3 characters',
        vars: {runtime_service_account_id: 'tvm'},
        want: /runtime_service_account_id must be 6 to 30/,
      },
      {
        name: 'a target account name of 3 characters (the old example)',
        vars: {
          service_accounts: {
            etl: {email: 'etl@other-project.iam.gserviceaccount.com'},
          },
        },
        want: /user-managed service account email/,
      },
      {
        name: 'an invoker that is not one of the three',
        vars: {invoker: 'public'},
        want: /invoker must be one of allUsers, no_iam_check, iam/,
      },
      {
        name: 'id_tokens on a key-based account',
        vars: {
          service_accounts: {
            etl: {
              email: 'legacy-etl@other-project.iam.gserviceaccount.com',
              mint: 'key',
              key_secret_id: 'etl-key',
              id_tokens: true,
            },
          },
        },
        want: /id_tokens and sign_jwt apply to mint = "impersonate"/,
      },
      {
        name: 'a user without the secret of its credential',
        vars: {
          service_accounts: {
            alice: {email: 'alice@example.com', mint: 'user'},
          },
        },
        want: /key_secret_id is required with mint = "key" or "user"/,
      },
      {
        name: 'a user email on an impersonated account',
        vars: {
          service_accounts: {
            alice: {email: 'alice@example.com'},
          },
        },
        want: /user-managed service account email/,
      },
    ];
    void test('refused, each with its own message', async () => {
      const results = await all(bad, c =>
        evaluate({...BASE, ...c.vars}, NAMES),
      );
      for (const [i, c] of bad.entries()) {
        const r = results[i]!;
        assert.equal(r.ok, false, `${c.name}: accepted`);
        assert.ok(
          r.errors.some(e => c.want.test(e)),
          `${c.name}: ${JSON.stringify(r.errors)}`,
        );
      }
    });
  },
);

void describe(
  'terraform: the source zip and the policy are read only when they exist',
  {skip},
  () => {
    void test('without the zip and the policy file (terraform destroy) everything still evaluates', async () => {
      const r = await evaluate(
        {...BASE, policy_file: '/nonexistent/policy.yaml'},
        ['source_object_name', 'policy_text'],
      );
      assert.deepEqual(r.errors, []);
      assert.equal(r.values.source_object_name, 'tvm-vend-no-source-zip.zip');
      assert.equal(r.values.policy_text ?? null, null);
    });

    void test('with the zip, the object is named by its MD5, so a new build redeploys', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tvm-zip-'));
      const zip = join(dir, 'function-source.zip');
      writeFileSync(zip, 'not really a zip');
      const md5 = createHash('md5').update('not really a zip').digest('hex');
      const r = await evaluate({...BASE, source_zip_path: zip}, [
        'source_object_name',
      ]);
      assert.deepEqual(r.errors, []);
      assert.equal(r.values.source_object_name, `tvm-vend-${md5}.zip`);
    });

    void test('main.tf refuses a missing zip or policy on create and update by preconditions', async () => {
      const main = readFileSync(
        join(ROOT, 'terraform/modules/tvm/main.tf'),
        'utf8',
      );
      const object = main.slice(
        main.indexOf('resource "google_storage_bucket_object" "source"'),
      );
      assert.match(
        object.slice(0, 600),
        /condition\s+= fileexists\(var\.source_zip_path\)/,
      );
      assert.match(main, /condition\s+= local\.policy_text != null/);
      for (const f of ['main.tf', 'monitoring.tf', 'outputs.tf']) {
        const text = readFileSync(
          join(ROOT, 'terraform/modules/tvm', f),
          'utf8',
        );
        assert.doesNotMatch(
          text,
          /\bfile(md5)?\(/,
          `${f}: no unguarded file read`,
        );
      }
    });
  },
);

void describe(
  'terraform: the runtime account gets only the permissions asked for',
  {skip},
  () => {
    void test('getAccessToken alone by default; getOpenIdToken and signJwt only where asked; one role per project and set', async () => {
      const r = await evaluate(
        {
          ...BASE,
          name: `t${'v'.repeat(47)}m`,
          source_bucket_name: 'tvm-src',
          service_accounts: {
            reporting: {
              email: 'reporting@data-project-1.iam.gserviceaccount.com',
            },
            reporting2: {
              email: 'reporting@data-project-1.iam.gserviceaccount.com',
            },
            loader: {email: 'loader@data-project-1.iam.gserviceaccount.com'},
            signer: {
              email: 'signer@data-project-2.iam.gserviceaccount.com',
              id_tokens: true,
              sign_jwt: true,
            },
            etl: {
              email: 'legacy-etl@other-project.iam.gserviceaccount.com',
              mint: 'key',
              key_secret_id: 'etl-key',
            },
            alice: {
              email: 'alice@example.com',
              mint: 'user',
              key_secret_id: 'projects/user-creds/secrets/alice-credential',
            },
          },
        },
        [
          'minter_roles',
          'minter_variant',
          'key_secret_names',
          'minter_role_prefix',
        ],
      );
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.values.minter_variant, {
        'loader@data-project-1.iam.gserviceaccount.com':
          'data-project-1/access',
        'reporting@data-project-1.iam.gserviceaccount.com':
          'data-project-1/access',
        'signer@data-project-2.iam.gserviceaccount.com':
          'data-project-2/access_id_jwt',
      });
      const roles = r.values.minter_roles as Record<
        string,
        {project: string; suffix: string; permissions: string[]}
      >;
      assert.deepEqual(roles['data-project-1/access']?.permissions, [
        'iam.serviceAccounts.getAccessToken',
      ]);
      assert.deepEqual(roles['data-project-2/access_id_jwt']?.permissions, [
        'iam.serviceAccounts.getAccessToken',
        'iam.serviceAccounts.getOpenIdToken',
        'iam.serviceAccounts.signJwt',
      ]);
      for (const role of Object.values(roles)) {
        assert.match(
          `${String(r.values.minter_role_prefix)}${role.suffix}`,
          ROLE_ID,
        );
      }
      assert.deepEqual(r.values.key_secret_names, [
        'projects/my-tvm-project/secrets/etl-key',
        'projects/user-creds/secrets/alice-credential',
      ]);
    });
  },
);

void describe(
  'terraform: the example tfvars pass the module validations',
  {skip},
  () => {
    void test('terraform.tfvars.example, passed through the example root, is accepted', async () => {
      const dir = join(ROOT, 'terraform/examples/simple');
      const tfvars = (await parse(
        'terraform.tfvars',
        readFileSync(join(dir, 'terraform.tfvars.example'), 'utf8'),
      )) as Record<string, unknown>;
      // The example passes each of these straight through (module arg = var of the same name).
      const call = moduleCalls(await loadConfiguration(dir)).get('tvm')!;
      for (const k of Object.keys(tfvars)) {
        assert.equal(
          call[k],
          `\${var.${k}}`,
          `the example passes ${k} through`,
        );
      }
      const r = await evaluate(tfvars, NAMES);
      assert.deepEqual(r.errors, []);
    });
  },
);

void describe('terraform fmt', {skip}, () => {
  void test('terraform fmt -check -recursive passes on terraform/, and fails on a misaligned file', async () => {
    const {spawnSync} = await import('node:child_process');
    const env = {
      ...process.env,
      CHECKPOINT_DISABLE: '1',
      TF_CLI_CONFIG_FILE: '/dev/null',
    };
    const r = spawnSync(
      'terraform',
      ['fmt', '-check', '-recursive', 'terraform'],
      {
        cwd: ROOT,
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, `files terraform fmt would change: ${r.stdout}`);
    const dir = mkdtempSync(join(tmpdir(), 'tvm-fmt-'));
    writeFileSync(join(dir, 'bad.tf'), 'locals {\n  a = 1\n  bb = 2\n}\n');
    const bad = spawnSync('terraform', ['fmt', '-check', dir], {
      env,
      encoding: 'utf8',
    });
    assert.notEqual(bad.status, 0);
  });
});
