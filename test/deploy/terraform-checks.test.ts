/**
 * The offline Terraform checks themselves, against small configurations that are wrong
 * in one way each: a check that passes on the real module is worth something only if it
 * fails on these.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  formatProblems,
  leastPrivilegeProblems,
  loadSchemaTable,
  moduleCallProblems,
  parseConfiguration,
  referenceProblems,
  satisfies,
  bounded,
  schemaProblems,
  variableProblems,
  versionProblems,
} from './terraform-checks.ts';

const table = loadSchemaTable();

const RUNTIME = `
resource "google_service_account" "runtime" {
  account_id = "tvm-runtime"
}
`;

interface Case {
  name: string;
  hcl: string;
  /** Each expected problem, as a pattern; [] means the snippet is clean. */
  want: RegExp[];
}

function assertProblems(problems: string[], want: RegExp[]): void {
  if (want.length === 0) {
    assert.deepEqual(problems, []);
    return;
  }
  for (const w of want) {
    assert.ok(
      problems.some(p => w.test(p)),
      `expected a problem matching ${w}, got ${JSON.stringify(problems)}`,
    );
  }
}

void describe('leastPrivilegeProblems', () => {
  const cases: Case[] = [
    {
      name: 'a grant on the target account only is fine',
      hcl: `${RUNTIME}
resource "google_service_account_iam_member" "tc" {
  service_account_id = "projects/p/serviceAccounts/a@p.iam.gserviceaccount.com"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:\${google_service_account.runtime.email}"
}`,
      want: [],
    },
    {
      name: 'a project-wide roles/editor grant',
      hcl: `${RUNTIME}
resource "google_project_iam_member" "editor" {
  project = "p"
  role    = "roles/editor"
  member  = "serviceAccount:\${google_service_account.runtime.email}"
}`,
      want: [
        /basic role roles\/editor/,
        /roles\/editor grant at project level/,
      ],
    },
    {
      name: 'a project-wide token-creator grant',
      hcl: `${RUNTIME}
resource "google_project_iam_member" "tc" {
  project = "p"
  role    = "roles/iam.serviceAccountTokenCreator"
  member  = "serviceAccount:\${google_service_account.runtime.email}"
}`,
      want: [/serviceAccountTokenCreator grant at project level/],
    },
    {
      name: 'a project-wide secretAccessor binding (authoritative too)',
      hcl: `
resource "google_project_iam_binding" "sa" {
  project = "p"
  role    = "roles/secretmanager.secretAccessor"
  members = ["serviceAccount:x@p.iam.gserviceaccount.com"]
}`,
      want: [/secretAccessor grant at project level/, /authoritative IAM/],
    },
    {
      name: 'an organization-level grant',
      hcl: `
resource "google_organization_iam_member" "o" {
  org_id = "123"
  role   = "roles/iam.serviceAccountTokenCreator"
  member = "user:a@example.com"
}`,
      want: [/grant at organization level/],
    },
    {
      name: 'a basic role hidden in a local list',
      hcl: `
locals {
  roles = ["roles/logging.logWriter", "roles/viewer"]
}`,
      want: [/basic role roles\/viewer/],
    },
    {
      name: 'a service-account key',
      hcl: `
resource "google_service_account_key" "k" {
  service_account_id = "x"
}`,
      want: [/must not create service-account keys/],
    },
    {
      name: 'allUsers reading a secret',
      hcl: `
variable "public" {
  type        = bool
  description = "d"
}
resource "google_secret_manager_secret_iam_member" "p" {
  count     = var.public ? 1 : 0
  secret_id = "s"
  role      = "roles/secretmanager.secretAccessor"
  member    = "allUsers"
}`,
      want: [/allUsers may only be an invoker/],
    },
    {
      name: 'a public invoker that is always on',
      hcl: `
resource "google_cloud_run_v2_service_iam_member" "p" {
  name   = "tvm"
  role   = "roles/run.invoker"
  member = "allUsers"
}`,
      want: [/public access must be behind a variable/],
    },
    {
      name: 'a public invoker behind a variable is fine',
      hcl: `
resource "google_cloud_run_v2_service_iam_member" "p" {
  count  = var.allow_unauthenticated_invocations ? 1 : 0
  name   = "tvm"
  role   = "roles/run.invoker"
  member = "allUsers"
}`,
      want: [],
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const conf = await parseConfiguration({'main.tf': c.hcl});
      assertProblems(leastPrivilegeProblems(conf), c.want);
    });
  }

  void test('a role that cannot be scoped lower may be allowed at project level, explicitly', async () => {
    const conf = await parseConfiguration({
      'main.tf': `
resource "google_project_iam_member" "m" {
  project = "p"
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:x@p.iam.gserviceaccount.com"
}`,
    });
    assert.equal(leastPrivilegeProblems(conf).length, 1);
    assert.deepEqual(
      leastPrivilegeProblems(conf, {
        projectRolesAllowed: ['roles/monitoring.metricWriter'],
      }),
      [],
    );
  });
});

void describe('schemaProblems', () => {
  const cases: Case[] = [
    {name: 'a correct resource', hcl: RUNTIME, want: []},
    {
      name: 'an unknown resource type',
      hcl: `resource "google_cloud_function3" "f" {
  name = "x"
}`,
      want: [/no resource type google_cloud_function3/],
    },
    {
      name: 'an unknown data source type',
      hcl: 'data "google_no_such_thing" "x" {}',
      want: [/no data source type google_no_such_thing/],
    },
    {
      name: 'an unknown argument',
      hcl: `resource "google_service_account" "r" {
  account_id = "x"
  email      = "x@p.iam.gserviceaccount.com"
  colour     = "blue"
}`,
      want: [/"email" is read-only/, /unknown argument or block "colour"/],
    },
    {
      name: 'a missing required argument',
      hcl: `resource "google_service_account" "r" {
  display_name = "x"
}`,
      want: [/required argument "account_id" is missing/],
    },
    {
      name: 'a missing required block',
      hcl: `resource "google_secret_manager_secret" "s" {
  secret_id = "x"
}`,
      want: [/required block "replication" is missing/],
    },
    {
      name: 'an unknown nested argument and block',
      hcl: `resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  service_config {
    memory = "256Mi"
    sidecar {
      image = "x"
    }
  }
}`,
      want: [
        /service_config: unknown argument or block "memory"/,
        /service_config: unknown argument or block "sidecar"/,
      ],
    },
    {
      name: 'a required nested argument missing',
      hcl: `resource "google_cloudfunctions2_function" "f" {
  name     = "f"
  location = "europe-west1"
  service_config {
    secret_environment_variables {
      key = "K"
    }
  }
}`,
      want: [
        /secret_environment_variables: required argument "secret" is missing/,
      ],
    },
    {
      name: 'a dynamic block that is not a block',
      hcl: `resource "google_secret_manager_secret" "s" {
  secret_id = "x"
  replication {
    auto {}
  }
  dynamic "replicas" {
    for_each = []
    content {}
  }
}`,
      want: [/dynamic "replicas" is not a block/],
    },
    {
      name: 'an unknown lifecycle argument',
      hcl: `resource "google_service_account" "r" {
  account_id = "x"
  lifecycle {
    keep = true
  }
}`,
      want: [/lifecycle: unknown argument "keep"/],
    },
    {
      name: 'an unknown provider argument',
      hcl: `provider "google" {
  project = "p"
  zone_id = "x"
}`,
      want: [/provider.google: unknown argument or block "zone_id"/],
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const conf = await parseConfiguration({'main.tf': c.hcl});
      assertProblems(schemaProblems(conf, table), c.want);
    });
  }
});

void describe('referenceProblems', () => {
  const cases: Case[] = [
    {
      name: 'resolved references',
      hcl: `
variable "n" {
  type        = number
  description = "d"
}
locals {
  ids = [for i in range(var.n) : "sa-\${i}"]
}
resource "google_service_account" "r" {
  count      = var.n
  account_id = local.ids[count.index]
}
output "emails" {
  value = google_service_account.r[*].email
}
output "first" {
  value = google_service_account.r[0].email
}`,
      want: [],
    },
    {
      name: 'an undeclared variable and local',
      hcl: `resource "google_service_account" "r" {
  account_id   = var.missing
  display_name = local.nowhere
}`,
      want: [
        /var\.missing: no such variable/,
        /local\.nowhere: no such local value/,
      ],
    },
    {
      name: 'an undeclared module, resource and data source',
      hcl: `output "a" {
  value = module.ghost.url
}
output "b" {
  value = google_service_account.ghost.email
}
output "c" {
  value = data.google_project.ghost.number
}`,
      want: [
        /module\.ghost\.url: no such module call/,
        /no resource google_service_account\.ghost is declared/,
        /no data google_project\.ghost is declared/,
      ],
    },
    {
      name: 'an attribute the provider does not have',
      hcl: `${RUNTIME}
output "a" {
  value = google_service_account.runtime.mail
}`,
      want: [/google_service_account has no attribute "mail"/],
    },
    {
      name: 'each without for_each, count without count',
      hcl: `resource "google_service_account" "r" {
  account_id   = each.key
  display_name = count.index
}`,
      want: [
        /each is only valid where for_each is set/,
        /count is only valid where count is set/,
      ],
    },
    {
      name: 'a counted resource referenced without an index',
      hcl: `resource "google_service_account" "r" {
  count      = 1
  account_id = "x"
}
output "a" {
  value = google_service_account.r.email
}`,
      want: [/has count or for_each: index it/],
    },
    {
      name: 'a validation that looks at a local or an undeclared variable',
      hcl: `locals {
  max = 3
}
variable "b" {
  type        = number
  description = "d"
  validation {
    condition     = var.b < local.max && var.b != var.nowhere
    error_message = "b < max"
  }
}`,
      want: [
        /local\.max: a validation may refer to variables only/,
        /var\.nowhere: no such variable/,
      ],
    },
    {
      name: 'a validation that looks at another declared variable (Terraform 1.9)',
      hcl: `variable "a" {
  type        = number
  description = "d"
}
variable "b" {
  type        = number
  description = "d"
  validation {
    condition     = var.b < var.a
    error_message = "b < a"
  }
}`,
      want: [],
    },
    {
      name: 'an output of a known module that does not exist',
      hcl: `module "m" {
  source = "./m"
}
output "a" {
  value = module.m.nope
}`,
      want: [/the module has no output "nope"/],
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const conf = await parseConfiguration({'main.tf': c.hcl});
      const problems = await referenceProblems(conf, table, source =>
        source === './m' ? new Set(['url']) : undefined,
      );
      assertProblems(problems, c.want);
    });
  }
});

void describe('variableProblems', () => {
  const cases: Case[] = [
    {
      name: 'no type, no description',
      hcl: 'variable "x" {}',
      want: [/variable\.x: no type/, /variable\.x: no description/],
    },
    {
      name: 'an enumeration whose message does not list every value',
      hcl: `variable "tier" {
  type        = string
  description = "d"
  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.tier)
    error_message = "tier must be BASIC."
  }
}`,
      want: [/error_message does not list "STANDARD_HA"/],
    },
    {
      name: 'a validation that does not test its variable',
      hcl: `variable "x" {
  type        = string
  description = "d"
  validation {
    condition     = true
    error_message = "never"
  }
}`,
      want: [/the condition does not test var\.x/],
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const conf = await parseConfiguration({'variables.tf': c.hcl});
      assertProblems(variableProblems(conf), c.want);
    });
  }
});

void describe('versionProblems and moduleCallProblems', () => {
  void test('unbounded Terraform and provider versions', async () => {
    const conf = await parseConfiguration({
      'versions.tf': `terraform {
  required_version = ">= 1.5.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}`,
    });
    assertProblems(versionProblems(conf, table), [
      /required_version must have a lower and an upper bound/,
      /provider google: version must have a lower and an upper bound/,
    ]);
  });

  void test('a constraint that excludes the schema version', async () => {
    const conf = await parseConfiguration({
      'versions.tf': `terraform {
  required_version = "~> 1.9"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 5.40"
    }
  }
}`,
    });
    assertProblems(versionProblems(conf, table), [/excludes 6\.50\.0/]);
  });

  void test('constraint arithmetic', () => {
    const cases: Array<[string, string, boolean]> = [
      ['6.50.0', '>= 6.14.0, < 7.0.0', true],
      ['7.0.0', '>= 6.14.0, < 7.0.0', false],
      ['6.50.0', '~> 6.0', true],
      ['6.50.0', '~> 6.49.0', false],
      ['6.49.3', '~> 6.49.0', true],
      ['6.50.0', '6.50.0', true],
    ];
    for (const [v, c, want] of cases)
      assert.equal(satisfies(v, c), want, `${v} ${c}`);
    assert.equal(bounded('>= 1.5.0'), false);
    assert.equal(bounded('>= 1.5.0, < 2.0.0'), true);
    assert.equal(bounded('~> 1.9'), true);
  });

  void test('a module call with an unknown argument and a missing required one', async () => {
    const module = await parseConfiguration({
      'variables.tf': `variable "needed" {
  type        = string
  description = "d"
}
variable "optional" {
  type        = string
  description = "d"
  default     = "x"
}`,
    });
    const caller = await parseConfiguration({
      'main.tf': `module "m" {
  source  = "./m"
  typo    = "x"
}`,
    });
    assertProblems(moduleCallProblems(caller, 'm', module), [
      /has no variable "typo"/,
      /required variable "needed" is not set/,
    ]);
  });
});

void describe('formatProblems', () => {
  void test('aligned runs, broken by blank, comment and multi-line lines, pass', () => {
    const ok = [
      'resource "google_service_account" "r" {',
      '  project    = "p"',
      '  account_id = "x"',
      '  # a comment ends a run',
      '  description  = <<-EOT',
      '    text = not an attribute',
      '  EOT',
      '  display_name = "y"',
      '  labels = {',
      '    a   = "b"',
      '    bcd = "${var.x == "=" ? 1 : 2}"',
      '  }',
      '}',
    ].join('\n');
    assert.deepEqual(formatProblems('ok.tf', ok), []);
  });

  void test('a misaligned run and trailing whitespace are reported', () => {
    const bad = [
      'resource "google_service_account" "r" {',
      '  project = "p"',
      '  account_id = "x" ',
      '}',
    ].join('\n');
    assert.deepEqual(formatProblems('bad.tf', bad), [
      'bad.tf:2: "=" at column 11, terraform fmt puts it at 14',
      'bad.tf:3: trailing whitespace',
    ]);
  });
});
