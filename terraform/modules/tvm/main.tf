# tvm, a token vending machine for Google Cloud, as a Cloud Functions 2nd gen HTTP
# function with its own runtime identity and the IAM it needs, and no more:
#
#   - roles/iam.serviceAccountTokenCreator on each impersonated target account only;
#   - roles/secretmanager.secretAccessor on the policy secret and on each key secret only;
#   - no project-level grant, no basic role, no service-account key.

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
    var.enable_redis ? [
      "compute.googleapis.com",
      "redis.googleapis.com",
      "vpcaccess.googleapis.com",
    ] : [],
  )

  source_bucket_name = coalesce(var.source_bucket_name, "${var.project_id}-${var.name}-source")

  # TVM_ISSUER must be the function's public URL, but the URL the API reports
  # (google_cloudfunctions2_function.url) exists only after the function is created,
  # and the function's environment must be set when it is created: using that attribute
  # would be a dependency cycle. A 2nd gen function is also served at the predictable
  # https://<region>-<project>.cloudfunctions.net/<name>, so that is the default; a
  # custom domain or load balancer in front sets var.issuer_url instead.
  issuer = coalesce(var.issuer_url, "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name}")

  # The latest version, not a pinned one: tvm re-reads the policy periodically, so a new
  # version (from terraform apply or gcloud) takes effect without a redeploy.
  policy_source = "${google_secret_manager_secret.policy.id}/versions/latest"

  # Exactly the variables src/config.ts declares as set by the module (setBy
  # 'module'), each fed by a variable whose range and default match that declaration;
  # test/deploy/terraform.test.ts checks it, so the keys stay literal. Null values are
  # dropped below so tvm applies its own defaults. The Redis store of a later release
  # has no configuration variable yet, so enable_redis sets none. PORT and K_SERVICE
  # are the platform's; TVM_LOCAL and the endpoint overrides are for local runs and
  # tests.
  environment_candidates = {
    TVM_POLICY                 = local.policy_source
    TVM_ISSUER                 = local.issuer
    TVM_TRUSTED_PROXY_HOPS     = tostring(var.trusted_proxy_hops)
    TVM_POLICY_REFRESH_SECONDS = var.policy_refresh_seconds == null ? null : tostring(var.policy_refresh_seconds)
    TVM_RATE_LIMIT_PER_IP      = var.rate_limit_per_ip == null ? null : tostring(var.rate_limit_per_ip)
    TVM_RATE_LIMIT_PER_CLIENT  = var.rate_limit_per_client == null ? null : tostring(var.rate_limit_per_client)
    TVM_LOG_LEVEL              = var.log_level
  }
  environment = { for k, v in local.environment_candidates : k => v if v != null }

  # One grant per distinct target account or key secret, however many aliases share it.
  impersonated_emails = toset([
    for sa in values(var.service_accounts) : sa.email if sa.mint == "impersonate"
  ])
  impersonated_account_names = {
    for email in local.impersonated_emails :
    email => "projects/${regex("@([a-z0-9-]+)\\.iam\\.gserviceaccount\\.com$", email)[0]}/serviceAccounts/${email}"
  }
  key_secret_names = toset([
    for sa in values(var.service_accounts) :
    startswith(sa.key_secret_id, "projects/") ? sa.key_secret_id : "projects/${var.project_id}/secrets/${sa.key_secret_id}"
    if sa.mint == "key"
  ])

  runtime_member = "serviceAccount:${google_service_account.runtime.email}"
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
  project   = var.project_id
  secret_id = var.policy_secret_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The policy holds SHA-256 hashes of API keys, never keys, so its text in the Terraform
# state discloses no credential. Changing the file replaces this version.
resource "google_secret_manager_secret_version" "policy" {
  secret      = google_secret_manager_secret.policy.id
  secret_data = file(var.policy_file)
}

resource "google_secret_manager_secret_iam_member" "policy_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.policy.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# ---------------------------------------------------------------------------------------
# What tvm may mint for
# ---------------------------------------------------------------------------------------

# Keyless minting: the runtime account may create tokens for this account and no other.
resource "google_service_account_iam_member" "token_creator" {
  for_each = local.impersonated_account_names

  service_account_id = each.value
  role               = "roles/iam.serviceAccountTokenCreator"
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
  bucket = google_storage_bucket.source.name
  # Content-addressed, so a new build is a new object and the function redeploys.
  name   = "${var.name}-${filemd5(var.source_zip_path)}.zip"
  source = var.source_zip_path
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
  name          = "${var.name}-redis"
  network       = data.google_compute_network.redis[0].name
  ip_cidr_range = var.vpc_connector_cidr
  min_instances = 2
  max_instances = 3

  depends_on = [google_project_service.apis]
}

resource "google_redis_instance" "store" {
  count = var.enable_redis ? 1 : 0

  project                 = var.project_id
  region                  = var.region
  name                    = "${var.name}-store"
  display_name            = "tvm shared rate-limit store (${var.name})"
  tier                    = var.redis_tier
  memory_size_gb          = var.redis_memory_size_gb
  authorized_network      = data.google_compute_network.redis[0].id
  connect_mode            = "DIRECT_PEERING"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = var.labels

  depends_on = [google_project_service.apis]
}

# ---------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------

resource "google_cloudfunctions2_function" "tvm" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "tvm: short-lived Google access tokens for callers outside Google Cloud"
  labels      = var.labels

  build_config {
    runtime         = "nodejs24"
    entry_point     = "tvm"
    service_account = var.build_service_account == null ? null : "projects/${var.project_id}/serviceAccounts/${var.build_service_account}"
    # The zip carries the compiled build/ (package.json "main"); run no npm script at
    # build time, so what was tested is what runs.
    environment_variables = {
      GOOGLE_NODE_RUN_SCRIPTS = ""
    }

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
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
# function admits everyone only when this explicit variable says so.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  count = var.allow_unauthenticated_invocations ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.tvm.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
