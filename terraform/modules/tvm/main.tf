# tvm, a token vending machine for Google Cloud, as a Cloud Functions 2nd gen HTTP
# function with its own runtime identity and the IAM it needs, and no more:
#
#   - on each impersonated target account only, a custom role with
#     iam.serviceAccounts.getAccessToken (getOpenIdToken, signJwt only when asked);
#   - roles/secretmanager.secretAccessor on the policy secret and on each key secret only;
#   - no project-level grant, no basic role, no service-account key.
#
# Derived names live in names.tf; observability in monitoring.tf.

locals {
  apis = concat(
    [
      "artifactregistry.googleapis.com", # the function's container image
      "cloudbuild.googleapis.com",       # builds the function from the source zip
      "cloudfunctions.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com", # generateAccessToken, at run time
      "run.googleapis.com",            # 2nd gen functions run on Cloud Run
      "secretmanager.googleapis.com",  # the policy and key secrets
      "storage.googleapis.com",        # the source bucket
    ],
    var.enable_monitoring ? [
      "logging.googleapis.com",
      "monitoring.googleapis.com",
    ] : [],
    var.enable_redis ? [
      "compute.googleapis.com",
      "redis.googleapis.com",
      "vpcaccess.googleapis.com",
    ] : [],
  )

  # TVM_ISSUER must be the function's public URL, but the URL the API reports
  # (google_cloudfunctions2_function.url) exists only after the function is created,
  # and the function's environment must be set when it is created: using that attribute
  # would be a dependency cycle. A 2nd gen function is also served at the predictable
  # https://<region>-<project>.cloudfunctions.net/<name>, so that is the default; a
  # custom domain or load balancer in front sets var.issuer_url instead.
  issuer = coalesce(var.issuer_url, "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_name}")

  policy_secret_id = var.create_policy_secret ? google_secret_manager_secret.policy[0].id : "projects/${var.project_id}/secrets/${var.policy_secret_id}"

  # The latest version, not a pinned one: tvm re-reads the policy periodically, so a new
  # version (from terraform apply or gcloud) takes effect without a redeploy.
  policy_source = "${local.policy_secret_id}/versions/latest"

  # Exactly the variables src/config.ts declares as set by the module (setBy
  # 'module'), each fed by a variable whose range and default match that declaration;
  # test/deploy/terraform.test.ts checks it, so the keys stay literal. Null values are
  # dropped below so tvm applies its own defaults. With enable_redis, the four shared-
  # store variables point tvm at Memorystore (rediss://, its server CA) and name the
  # two secrets it reads at start (docs/shared-store.md). PORT and K_SERVICE are the
  # platform's; TVM_LOCAL, TVM_CACHE_KEY and the endpoint overrides are for local runs
  # and tests.
  environment_candidates = {
    TVM_POLICY                 = local.policy_source
    TVM_ISSUER                 = local.issuer
    TVM_TRUSTED_PROXY_HOPS     = tostring(var.trusted_proxy_hops)
    TVM_POLICY_REFRESH_SECONDS = var.policy_refresh_seconds == null ? null : tostring(var.policy_refresh_seconds)
    TVM_RATE_LIMIT_PER_IP      = var.rate_limit_per_ip == null ? null : tostring(var.rate_limit_per_ip)
    TVM_RATE_LIMIT_PER_CLIENT  = var.rate_limit_per_client == null ? null : tostring(var.rate_limit_per_client)
    TVM_REDIS_URL              = local.redis_url
    TVM_REDIS_CA               = local.redis_ca
    TVM_REDIS_AUTH_SECRET      = local.redis_auth_secret
    TVM_CACHE_KEY_SECRET       = local.cache_key_secret
    TVM_LOG_LEVEL              = var.log_level
    GOOGLE_CLOUD_PROJECT       = local.function_project
  }
  environment = { for k, v in local.environment_candidates : k => v if v != null }

  # The project the function runs in: tvm names it in its log lines' trace field,
  # without asking the metadata server at each start.
  function_project = var.project_id

  # The shared store (docs/shared-store.md), null without enable_redis: Memorystore over
  # TLS checked against its own server CA, and the two secrets tvm reads at start.
  redis_url         = var.enable_redis ? "rediss://${google_redis_instance.store[0].host}:${google_redis_instance.store[0].port}" : null
  redis_ca          = var.enable_redis ? join("\n", google_redis_instance.store[0].server_ca_certs[*].cert) : null
  redis_auth_secret = var.enable_redis ? "${local.redis_auth_secret_name}/versions/latest" : null
  cache_key_secret  = var.enable_redis ? "${local.cache_key_secret_name}/versions/latest" : null

  # The two secrets are made here, or by the bootstrap root (create_redis_secrets =
  # false) under the same names.
  redis_secrets          = var.enable_redis && var.create_redis_secrets
  redis_auth_secret_name = local.redis_secrets ? google_secret_manager_secret.redis_auth[0].id : "projects/${var.project_id}/secrets/${local.redis_auth_secret_id}"
  cache_key_secret_name  = local.redis_secrets ? google_secret_manager_secret.cache_key[0].id : "projects/${var.project_id}/secrets/${local.cache_key_secret_id}"

  runtime_email  = var.runtime_service_account_email != null ? var.runtime_service_account_email : google_service_account.runtime[0].email
  runtime_member = "serviceAccount:${local.runtime_email}"

  source_bucket = var.create_source_bucket ? google_storage_bucket.source[0].name : local.source_bucket_name
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? toset(local.apis) : toset([])

  project = var.project_id
  service = each.value
  # Other workloads in the project may use the same APIs.
  disable_on_destroy = false
}

# ---------------------------------------------------------------------------------------
# Runtime identity
# ---------------------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  count = var.runtime_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = var.runtime_service_account_id
  display_name = "tvm runtime (${var.name})"
  description  = "Identity of the ${var.name} token vending machine. Its only grants are on the policy secret, the key secrets and the target service accounts it mints for."

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------

resource "google_secret_manager_secret" "policy" {
  count = var.create_policy_secret ? 1 : 0

  project   = var.project_id
  secret_id = var.policy_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The policy holds SHA-256 hashes of API keys, never keys, so its text in the Terraform
# state discloses no credential. A changed file makes a new version; the old one is
# abandoned, not destroyed: it stays in Secret Manager, enabled, so a bad policy is
# rolled back by adding the previous text again (docs/deploy.md, "Roll back"), and
# the new version exists before the old one leaves the state, so TVM_POLICY's
# versions/latest never points at nothing.
resource "google_secret_manager_secret_version" "policy" {
  secret          = local.policy_secret_id
  secret_data     = local.policy_text
  deletion_policy = "ABANDON"

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = local.policy_text != null
      error_message = "policy_file names no readable file."
    }
  }
}

resource "google_secret_manager_secret_iam_member" "policy_accessor" {
  project   = var.project_id
  secret_id = local.policy_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# ---------------------------------------------------------------------------------------
# What tvm may mint for
# ---------------------------------------------------------------------------------------

# Keyless minting needs iam.serviceAccounts.getAccessToken on the target account, not
# the whole of roles/iam.serviceAccountTokenCreator (which adds signBlob, signJwt,
# getOpenIdToken and implicitDelegation).
resource "google_project_iam_custom_role" "minter" {
  for_each = local.minter_roles

  project     = each.value.project
  role_id     = "${local.minter_role_prefix}${each.value.suffix}"
  title       = "tvm token minter (${var.name}${each.value.suffix})"
  description = "Held by the ${var.name} tvm runtime account on the service accounts of this project it mints tokens for, and on nothing else."
  permissions = each.value.permissions
  stage       = "GA"
}

resource "google_service_account_iam_member" "minter" {
  for_each = local.minter_variant

  service_account_id = "projects/${local.impersonated[each.key].project}/serviceAccounts/${each.key}"
  role               = google_project_iam_custom_role.minter[each.value].name
  member             = local.runtime_member
}

# Key-based minting: the runtime account may read this key secret and no other. The key
# itself is created and stored by the account's owner, never by Terraform.
resource "google_secret_manager_secret_iam_member" "key_accessor" {
  for_each = local.key_secret_names

  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# ---------------------------------------------------------------------------------------
# Function source
# ---------------------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  count = var.create_source_bucket ? 1 : 0

  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = var.region
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  bucket = local.source_bucket
  name   = local.source_object_name
  source = var.source_zip_path

  lifecycle {
    precondition {
      condition     = fileexists(var.source_zip_path)
      error_message = "source_zip_path names no file: make the zip first (python3 scripts/package-function.py)."
    }
  }
}

# ---------------------------------------------------------------------------------------
# Optional shared store: Memorystore for Redis, reached through a VPC connector
# ---------------------------------------------------------------------------------------

data "google_compute_network" "redis" {
  count = var.enable_redis ? 1 : 0

  project = var.project_id
  name    = var.redis_network
}

resource "google_vpc_access_connector" "redis" {
  count = var.enable_redis ? 1 : 0

  project       = var.project_id
  region        = var.region
  name          = local.vpc_connector_name
  network       = data.google_compute_network.redis[0].name
  ip_cidr_range = var.vpc_connector_cidr
  min_instances = 2
  max_instances = 3

  depends_on = [google_project_service.apis]
}

# AUTH is on, so the provider records the instance's auth_string in the Terraform state
# (marked sensitive; no output of this module exposes it). The state bucket is the
# bootstrap's: private, versioned, readable by the deployer only. tvm reads the string
# from the secret below (TVM_REDIS_AUTH_SECRET), never from its environment.
resource "google_redis_instance" "store" {
  count = var.enable_redis ? 1 : 0

  project                 = var.project_id
  region                  = var.region
  name                    = local.redis_instance_name
  display_name            = "tvm shared store (${var.name})"
  tier                    = var.redis_tier
  memory_size_gb          = var.redis_memory_size_gb
  authorized_network      = data.google_compute_network.redis[0].id
  connect_mode            = "DIRECT_PEERING"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = var.labels

  depends_on = [google_project_service.apis]
}

# The AUTH string and the key that encrypts tokens at rest in Redis, each in a secret of
# its own that only tvm's runtime account may read (these are the only grants on them).
# With create_redis_secrets = false the bootstrap root made both, granted the runtime
# account, and a project owner adds their versions: the module touches neither.
resource "google_secret_manager_secret" "redis_auth" {
  count = local.redis_secrets ? 1 : 0

  project   = var.project_id
  secret_id = local.redis_auth_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "redis_auth" {
  count = local.redis_secrets ? 1 : 0

  secret      = google_secret_manager_secret.redis_auth[0].id
  secret_data = google_redis_instance.store[0].auth_string
  # A new AUTH string makes a new version before the old one is disabled, so
  # TVM_REDIS_AUTH_SECRET's versions/latest never points at nothing.
  deletion_policy = "DISABLE"

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "redis_auth_accessor" {
  count = local.redis_secrets ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.redis_auth[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# The cache key's value is added out of band, so it never enters the Terraform state:
#   head -c32 /dev/urandom | base64 | gcloud secrets versions add <name>-cache-key --data-file=-
# Until it exists, tvm keeps its token cache per instance (docs/shared-store.md).
resource "google_secret_manager_secret" "cache_key" {
  count = local.redis_secrets ? 1 : 0

  project   = var.project_id
  secret_id = local.cache_key_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "cache_key_accessor" {
  count = local.redis_secrets ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.cache_key[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# ---------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------

resource "google_cloudfunctions2_function" "tvm" {
  project     = var.project_id
  location    = var.region
  name        = local.function_name
  description = "tvm: short-lived Google access tokens for callers outside Google Cloud"
  labels      = var.labels

  # The buildpack runs `npm ci`, then the package's gcp-build script (scripts/build/
  # with the runtime's own Node: test/deploy/buildpack.test.ts runs the same steps on
  # the zip), then prunes the dev dependencies. No build environment is set: the
  # provider drops empty map values, so an empty GOOGLE_NODE_RUN_SCRIPTS would never
  # reach the build.
  build_config {
    runtime         = "nodejs24"
    entry_point     = "tvm"
    service_account = var.build_service_account == null ? null : "projects/${var.project_id}/serviceAccounts/${var.build_service_account}"

    source {
      storage_source {
        bucket = local.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = local.runtime_email
    available_memory                 = var.available_memory
    available_cpu                    = var.available_cpu
    timeout_seconds                  = var.timeout_seconds
    max_instance_request_concurrency = var.max_instance_request_concurrency
    min_instance_count               = var.min_instance_count
    max_instance_count               = var.max_instance_count
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    environment_variables            = local.environment
    vpc_connector                    = var.enable_redis ? google_vpc_access_connector.redis[0].id : null
    vpc_connector_egress_settings    = var.enable_redis ? "PRIVATE_RANGES_ONLY" : null
  }

  lifecycle {
    precondition {
      condition     = var.max_instance_request_concurrency == 1 || contains(["1", "2", "4", "6", "8"], var.available_cpu)
      error_message = "max_instance_request_concurrency above 1 needs available_cpu of at least 1."
    }
    precondition {
      condition     = var.min_instance_count <= var.max_instance_count
      error_message = "min_instance_count must not exceed max_instance_count."
    }
  }

  # The policy and the grant to read it exist before the first instance starts, so the
  # function does not begin life answering 503.
  depends_on = [
    google_secret_manager_secret_version.policy,
    google_secret_manager_secret_iam_member.policy_accessor,
  ]
}

# Callers authenticate to tvm itself, not to Google, so the Cloud Run service behind the
# function admits everyone only when var.invoker says so explicitly. With
# "no_iam_check" the service's invoker check is turned off outside Terraform (the
# provider manages that setting only on services it creates), and nothing is granted.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = var.invoker == "allUsers" ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.tvm.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
