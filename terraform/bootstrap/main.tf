# tvm's bootstrap: run once, by a project owner, before the first deploy. It creates
# what the deploy must not be able to create or change by itself, and the accounts of
# the two pipelines, each with the least it needs:
#
#   tvm-pr        pull-request builds (cloudbuild.yaml):  writes logs; nothing else
#   tvm-ci        main-branch builds (cloudbuild.yaml):   writes logs; adds objects to
#                                                         the artifacts bucket
#   tvm-deployer  deploys (cloudbuild-deploy.yaml):       Terraform, on the resources
#                                                         below, mostly one by one
#
# and tvm's own accounts: tvm-runtime (the function's identity) and tvm-function-build
# (the function's image build). Project-level grants only where Google offers no lower
# level; each says why. With enable_redis, also what the module's shared store needs
# that the deployer must not be able to make or read: its two secrets.

locals {
  apis = concat(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.enable_redis ? [
      "compute.googleapis.com",
      "redis.googleapis.com",
      "vpcaccess.googleapis.com",
    ] : [],
  )
  # The shared store's secrets, named as the module names them
  # (terraform/modules/tvm/names.tf: redis_auth_secret_id, cache_key_secret_id).
  redis_secrets = var.enable_redis ? {
    redis_auth = "${var.name}-redis-auth"
    cache_key  = "${var.name}-cache-key"
  } : {}
  artifacts_bucket_name = coalesce(var.artifacts_bucket_name, "${var.project_id}-tvm-artifacts")
  source_bucket_name    = "${var.project_id}-${var.name}-source"
  triggers              = var.github_owner != null && var.github_repository != null

  deployer = "serviceAccount:${google_service_account.deployer.email}"
  target_projects = toset([
    for e in var.target_service_accounts : regex("@([a-z0-9-]+)\\.iam\\.gserviceaccount\\.com$", e)[0]
  ])
  # Writing logs exists only at project level.
  log_writers = {
    pr             = google_service_account.pr.email
    ci             = google_service_account.ci.email
    deployer       = google_service_account.deployer.email
    function_build = google_service_account.function_build.email
  }
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# ---------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------

# Terraform state: named by you (no default anyone could claim first), versioned so a
# bad apply's state can be restored, uniform access, never public, kept on destroy.
resource "google_storage_bucket" "state" {
  project                     = var.project_id
  name                        = var.state_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.apis]
}

# The build pipeline's output, per commit: function-source.zip and policy.yaml.
resource "google_storage_bucket" "artifacts" {
  project                     = var.project_id
  name                        = local.artifacts_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# The module's source bucket (create_source_bucket = false there).
resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  depends_on = [google_project_service.apis]
}

# The module's policy secret (create_policy_secret = false there). Versions are the
# deployer's to add; they are never destroyed (the module abandons old ones).
resource "google_secret_manager_secret" "policy" {
  project   = var.project_id
  secret_id = var.policy_secret_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The shared store's secrets (with enable_redis; module: create_redis_secrets = false):
# the Redis AUTH string and the 256-bit key that encrypts tokens at rest in Redis.
# tvm-runtime is the only principal granted anything on them (below); the deployer holds
# no role on them, so it can neither read nor replace them. Their versions are added by
# a project owner, never by Terraform, so neither value passes through a plan:
#   the key (generated):   head -c32 /dev/urandom | base64 | gcloud secrets versions add <name>-cache-key --data-file=-
#   the AUTH string (Memorystore generates it when the module creates the instance):
#     gcloud redis instances get-auth-string <name>-store --region <region> --format='value(authString)' | gcloud secrets versions add <name>-redis-auth --data-file=-
# Until they exist, tvm runs as if Redis were down and retries every 5 s.
resource "google_secret_manager_secret" "redis" {
  for_each = local.redis_secrets

  project   = var.project_id
  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Cloud Functions builds images into the region's gcf-artifacts repository and creates
# it when missing; creating it here lets the function's build account write to this
# repository only.
resource "google_artifact_registry_repository" "gcf_artifacts" {
  project       = var.project_id
  location      = var.region
  repository_id = "gcf-artifacts"
  format        = "DOCKER"
  description   = "Images of Cloud Functions in ${var.region} (tvm's among them)."

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------

resource "google_service_account" "pr" {
  project      = var.project_id
  account_id   = "tvm-pr"
  display_name = "tvm pull-request builds"
}

resource "google_service_account" "ci" {
  project      = var.project_id
  account_id   = "tvm-ci"
  display_name = "tvm main-branch builds"
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "tvm-deployer"
  display_name = "tvm deploys (Terraform)"
}

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "tvm-runtime"
  display_name = "tvm runtime (${var.name})"
  description  = "The function's identity. The module grants it the policy secret, the key secrets and the minter role on its target accounts, nothing else."
}

resource "google_service_account" "function_build" {
  project      = var.project_id
  account_id   = "tvm-function-build"
  display_name = "tvm function image build"
}

# ---------------------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------------------

# Every build account, and the trigger accounts above all, must write its build logs
# (options.logging CLOUD_LOGGING_ONLY); roles/logging.logWriter exists at project level
# only.
resource "google_project_iam_member" "log_writer" {
  for_each = local.log_writers

  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${each.value}"
}

resource "google_storage_bucket_iam_member" "ci_publishes" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.ci.email}"
}

resource "google_storage_bucket_iam_member" "deployer_reads_artifacts" {
  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectViewer"
  member = local.deployer
}

resource "google_storage_bucket_iam_member" "deployer_state" {
  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectAdmin"
  member = local.deployer
}

resource "google_storage_bucket_iam_member" "deployer_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectAdmin"
  member = local.deployer
}

resource "google_secret_manager_secret_iam_member" "deployer_policy" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.policy.secret_id
  role      = "roles/secretmanager.admin"
  member    = local.deployer
}

# tvm reads the shared store's secrets at start, as tvm-runtime; nobody else is granted
# anything on them.
resource "google_secret_manager_secret_iam_member" "runtime_redis" {
  for_each = local.redis_secrets

  project   = var.project_id
  secret_id = google_secret_manager_secret.redis[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

# The module's Memorystore instance (and reading its AUTH string on refresh), its VPC
# connector, and looking up the network: none exists before the module's first apply,
# so there is no lower level than the project to grant them on.
resource "google_project_iam_member" "deployer_redis" {
  for_each = var.enable_redis ? toset(["roles/redis.admin", "roles/vpcaccess.admin", "roles/compute.networkViewer"]) : toset([])

  project = var.project_id
  role    = each.value
  member  = local.deployer
}

# To deploy a function that runs as tvm-runtime and builds as tvm-function-build, the
# deployer must act as those two accounts, and as no other.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = {
    runtime        = google_service_account.runtime.name
    function_build = google_service_account.function_build.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = local.deployer
}

# Creating a function is a project-level permission: the function does not exist yet.
resource "google_project_iam_member" "deployer_functions" {
  project = var.project_id
  role    = "roles/cloudfunctions.developer"
  member  = local.deployer
}

# The allUsers invoker is set on the function's Cloud Run service, which exists only
# after the first apply: a custom role with just the three permissions that needs.
resource "google_project_iam_custom_role" "deployer_run_iam" {
  project     = var.project_id
  role_id     = "tvm_deployer_run_iam"
  title       = "tvm deployer: Cloud Run invoker policy"
  description = "Read a Cloud Run service and set its IAM policy (the function's invoker)."
  permissions = [
    "run.services.get",
    "run.services.getIamPolicy",
    "run.services.setIamPolicy",
  ]
}

resource "google_project_iam_member" "deployer_run_iam" {
  project = var.project_id
  role    = google_project_iam_custom_role.deployer_run_iam.name
  member  = local.deployer
}

# Log-based metrics, alert policies, dashboards and uptime checks belong to the
# project; there is no lower level to grant on.
resource "google_project_iam_member" "deployer_monitoring" {
  for_each = var.enable_monitoring ? toset(["roles/logging.configWriter", "roles/monitoring.editor"]) : toset([])

  project = var.project_id
  role    = each.value
  member  = local.deployer
}

# The module defines a minter custom role in each target account's project (a custom
# role can only be granted within its project) ...
resource "google_project_iam_member" "deployer_role_admin" {
  for_each = local.target_projects

  project = each.value
  role    = "roles/iam.roleAdmin"
  member  = local.deployer
}

# ... and grants it on each target account, which needs setIamPolicy on that account.
resource "google_service_account_iam_member" "deployer_targets" {
  for_each = toset(var.target_service_accounts)

  service_account_id = "projects/${regex("@([a-z0-9-]+)\\.iam\\.gserviceaccount\\.com$", each.value)[0]}/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountAdmin"
  member             = local.deployer
}

resource "google_secret_manager_secret_iam_member" "deployer_key_secrets" {
  for_each = toset(var.key_secret_names)

  secret_id = each.value
  role      = "roles/secretmanager.admin"
  member    = local.deployer
}

# The function's image build: its source, its repository, its logs (above). Cloud
# Functions stages the source in gcf-v2-sources-<number>-<region> buckets it creates
# itself, so that read is granted on those bucket names only, by an IAM condition.
resource "google_storage_bucket_iam_member" "function_build_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_project_iam_member" "function_build_staged_source" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title      = "gcf-v2-sources buckets only"
    expression = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "function_build_images" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.gcf_artifacts.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

# ---------------------------------------------------------------------------------------
# Triggers (with github_owner and github_repository)
# ---------------------------------------------------------------------------------------

# Pull requests: build and test as tvm-pr, which can publish nothing and deploy
# nothing. Builds for outside contributors wait for a maintainer's /gcbrun comment.
resource "google_cloudbuild_trigger" "pr" {
  count = local.triggers ? 1 : 0

  project         = var.project_id
  name            = "tvm-pr"
  description     = "tvm: build and test a pull request (no publish, no deploy)"
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.pr.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    pull_request {
      branch          = var.branch
      comment_control = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
    }
  }

  substitutions = {
    _POLICY_FILE      = var.policy_file
    _PUBLISH          = "false"
    _ARTIFACTS_BUCKET = google_storage_bucket.artifacts.name
  }
}

# The main branch: build, test and publish the zip and policy as tvm-ci.
resource "google_cloudbuild_trigger" "build" {
  count = local.triggers ? 1 : 0

  project         = var.project_id
  name            = "tvm-build"
  description     = "tvm: build, test and publish the function source"
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.ci.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = var.branch
    }
  }

  substitutions = {
    _POLICY_FILE      = var.policy_file
    _PUBLISH          = "true"
    _ARTIFACTS_BUCKET = google_storage_bucket.artifacts.name
  }
}

# The main branch again: Terraform as tvm-deployer, after a person approves the build.
# Never on pull requests.
resource "google_cloudbuild_trigger" "deploy" {
  count = local.triggers ? 1 : 0

  project         = var.project_id
  name            = "tvm-deploy"
  description     = "tvm: terraform plan and apply what tvm-build published"
  filename        = "cloudbuild-deploy.yaml"
  service_account = google_service_account.deployer.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = var.branch
    }
  }

  approval_config {
    approval_required = true
  }

  substitutions = {
    _REGION           = var.region
    _TF_STATE_BUCKET  = google_storage_bucket.state.name
    _TF_STATE_PREFIX  = "tvm"
    _TF_DIR           = var.tf_dir
    _ARTIFACTS_BUCKET = google_storage_bucket.artifacts.name
    _APPLY            = "true"
  }
}
