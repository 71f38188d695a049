# ---------------------------------------------------------------------------------------
# Where
# ---------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "The project the function, its runtime service account, the policy secret and the source bucket are created in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "The Cloud Functions region, e.g. europe-west1 or us-central1. The source bucket and the optional Redis instance and VPC connector are created there too."

  validation {
    condition     = can(regex("^(africa|asia|australia|europe|me|northamerica|southamerica|us)-[a-z]+[1-9][0-9]?$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1 (not a zone, not a multi-region)."
  }
}

variable "name" {
  type        = string
  description = "The function's name: its Cloud Functions id, its Cloud Run service's name and the last part of its URL. 4 to 49 lowercase letters, digits or hyphens: Cloud Functions ids are 4 to 63 characters, and the Cloud Run service that carries the same name allows 49. The names derived from it (names.tf) must fit too: the default source bucket <project_id>-<name>-source (63), and with enable_redis the connector <name>-redis (25) and the instance <name>-store (40)."
  default     = "tvm-vend"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,47}[a-z0-9]$", var.name))
    error_message = "name must be 4 to 49 lowercase letters, digits or hyphens, start with a letter and end with a letter or digit (Cloud Functions ids are at least 4 characters; the Cloud Run service of the same name at most 49)."
  }

  validation {
    condition     = var.source_bucket_name != null || length("${var.project_id}-${var.name}-source") <= 63
    error_message = "The default source bucket name <project_id>-<name>-source is longer than 63 characters: shorten name, or set source_bucket_name."
  }

  validation {
    condition     = var.source_bucket_name != null || !strcontains("${var.project_id}-${var.name}", "google")
    error_message = "The default source bucket name <project_id>-<name>-source would contain \"google\", which Cloud Storage refuses: change name, or set source_bucket_name."
  }

  validation {
    condition     = !var.enable_redis || length("${var.name}-redis") <= 25
    error_message = "With enable_redis, the VPC connector <name>-redis must be at most 25 characters: name at most 19."
  }

  validation {
    condition     = !var.enable_redis || length("${var.name}-store") <= 40
    error_message = "With enable_redis, the Redis instance <name>-store must be at most 40 characters: name at most 34."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels applied to every resource that takes labels."
  default     = {}
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs the deployment needs. Set to false when the project's APIs are managed elsewhere. APIs are never disabled on destroy."
  default     = true
}

# ---------------------------------------------------------------------------------------
# Source and runtime
# ---------------------------------------------------------------------------------------

variable "source_zip_path" {
  type        = string
  description = "Path to the function source zip that scripts/package-function.py makes (package.json, its lock, the TypeScript sources; the buildpack compiles them with the package's gcp-build script). A new zip content means a new object name and a redeploy. Read only on create and update: terraform destroy does not need it."

  validation {
    condition     = endswith(var.source_zip_path, ".zip")
    error_message = "source_zip_path must name a .zip file."
  }
}

variable "source_bucket_name" {
  type        = string
  description = "Name of the bucket that holds the function source. Default: <project_id>-<name>-source. With create_source_bucket = false, an existing bucket (for example the one the bootstrap made)."
  default     = null

  validation {
    condition     = var.source_bucket_name == null || can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.source_bucket_name))
    error_message = "source_bucket_name must be a bucket name: 3 to 63 lowercase letters, digits, hyphens, underscores or dots."
  }

  validation {
    condition     = var.source_bucket_name == null || try(!startswith(var.source_bucket_name, "goog") && !strcontains(var.source_bucket_name, "google"), false)
    error_message = "source_bucket_name must not begin with \"goog\" or contain \"google\": Cloud Storage refuses such names."
  }
}

variable "build_service_account" {
  type        = string
  description = "Email of the service account Cloud Build uses to build the function's image. Null: the project's default build service account."
  default     = null

  validation {
    condition     = var.build_service_account == null || can(regex("^[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", var.build_service_account))
    error_message = "build_service_account must be a service account email (name@project.iam.gserviceaccount.com)."
  }
}

variable "runtime_service_account_id" {
  type        = string
  description = "Account ID of the dedicated runtime service account created for the function (its identity when it impersonates the target accounts)."
  default     = "tvm-runtime"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.runtime_service_account_id))
    error_message = "runtime_service_account_id must be 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "runtime_service_account_email" {
  type        = string
  description = "Email of an existing service account to run the function as (for example the one the bootstrap root made, so the deployer needs roles/iam.serviceAccountUser on that account only). Null: the module creates runtime_service_account_id."
  default     = null

  validation {
    condition     = var.runtime_service_account_email == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", var.runtime_service_account_email))
    error_message = "runtime_service_account_email must be a user-managed service account email: name@project-id.iam.gserviceaccount.com."
  }
}

variable "create_source_bucket" {
  type        = bool
  description = "Create the source bucket. false: source_bucket_name names an existing bucket (made by the bootstrap root, so the deployer needs no project-wide storage role)."
  default     = true
}

variable "available_memory" {
  type        = string
  description = "Memory per function instance. One of 128Mi, 256Mi, 512Mi, 1Gi, 2Gi, 4Gi, 8Gi, 16Gi, 32Gi."
  default     = "512Mi"

  validation {
    condition     = contains(["128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi", "32Gi"], var.available_memory)
    error_message = "available_memory must be one of 128Mi, 256Mi, 512Mi, 1Gi, 2Gi, 4Gi, 8Gi, 16Gi, 32Gi."
  }
}

variable "available_cpu" {
  type        = string
  description = "vCPUs per instance. One of 0.083, 0.167, 0.333, 0.583, 1, 2, 4, 6, 8. A request concurrency above 1 needs at least 1."
  default     = "1"

  validation {
    condition     = contains(["0.083", "0.167", "0.333", "0.583", "1", "2", "4", "6", "8"], var.available_cpu)
    error_message = "available_cpu must be one of 0.083, 0.167, 0.333, 0.583, 1, 2, 4, 6, 8."
  }
}

variable "timeout_seconds" {
  type        = number
  description = "Request timeout in seconds (1 to 3600). A token request is a few upstream calls, each with its own deadline; the default leaves ample room."
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be an integer from 1 to 3600."
  }
}

variable "max_instance_request_concurrency" {
  type        = number
  description = "Concurrent requests per instance (1 to 1000). Above 1 needs available_cpu of at least 1."
  default     = 80

  validation {
    condition     = var.max_instance_request_concurrency >= 1 && var.max_instance_request_concurrency <= 1000 && floor(var.max_instance_request_concurrency) == var.max_instance_request_concurrency
    error_message = "max_instance_request_concurrency must be an integer from 1 to 1000."
  }
}

variable "min_instance_count" {
  type        = number
  description = "Instances kept warm (0 to 1000). 1 avoids cold starts for a price."
  default     = 0

  validation {
    condition     = var.min_instance_count >= 0 && var.min_instance_count <= 1000 && floor(var.min_instance_count) == var.min_instance_count
    error_message = "min_instance_count must be an integer from 0 to 1000."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on instances (1 to 1000). Without enable_redis, rate limits are per instance, so this also bounds the effective rate."
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 1000 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be an integer from 1 to 1000."
  }
}

variable "ingress_settings" {
  type        = string
  description = "Where requests may come from: ALLOW_ALL (callers outside Google Cloud, the usual case), ALLOW_INTERNAL_ONLY, or ALLOW_INTERNAL_AND_GCLB (behind an external load balancer, e.g. with Cloud Armor)."
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be one of ALLOW_ALL, ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "invoker" {
  type        = string
  description = "Who may reach the function through Cloud Run's front end. tvm's callers live outside Google Cloud and authenticate to tvm itself, so they have no Google identity: \"allUsers\" grants roles/run.invoker to allUsers (blocked where the organization enforces Domain Restricted Sharing); \"no_iam_check\" grants nothing and expects the Cloud Run invoker IAM check to be disabled on the function's service (gcloud run services update <name> --no-invoker-iam-check; the output disable_invoker_iam_check_command), which Domain Restricted Sharing allows; \"iam\" keeps the check (only principals you grant roles/run.invoker get through: callers inside Google Cloud, or a load balancer path with IAP). No default: the choice must be explicit."

  validation {
    condition     = contains(["allUsers", "no_iam_check", "iam"], var.invoker)
    error_message = "invoker must be one of allUsers, no_iam_check, iam."
  }
}

# ---------------------------------------------------------------------------------------
# Policy and targets
# ---------------------------------------------------------------------------------------

variable "policy_file" {
  type        = string
  description = "Path to the policy YAML in your repository. Its content becomes a new version of the policy secret; the function re-reads the latest version periodically, so a policy change needs no redeploy."

  validation {
    condition     = can(regex("\\.ya?ml$", var.policy_file))
    error_message = "policy_file must name a .yaml or .yml file."
  }
}

variable "create_policy_secret" {
  type        = bool
  description = "Create the policy secret. false: policy_secret_id names an existing secret in project_id (made by the bootstrap root, so the deployer holds roles/secretmanager.admin on that secret only); the module adds versions to it and grants the runtime account access."
  default     = true
}

variable "policy_secret_id" {
  type        = string
  description = "Secret Manager secret ID that holds the policy."
  default     = "tvm-policy"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.policy_secret_id))
    error_message = "policy_secret_id must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "service_accounts" {
  type = map(object({
    email         = string
    mint          = optional(string, "impersonate")
    key_secret_id = optional(string)
    id_tokens     = optional(bool, false)
    sign_jwt      = optional(bool, false)
  }))
  description = <<-EOT
    The target service accounts tvm may mint tokens for, by their alias in the policy
    (service_accounts.<alias>). mint = "impersonate" (default, keyless) grants the
    runtime account, on that account only, a custom role holding
    iam.serviceAccounts.getAccessToken, plus iam.serviceAccounts.getOpenIdToken with
    id_tokens = true and iam.serviceAccounts.signJwt with sign_jwt = true (for policies
    that mint ID tokens or sign JWTs; both false by default).
    mint = "key" grants roles/secretmanager.secretAccessor on key_secret_id only: the
    secret that holds the account's JSON key (a secret ID in project_id, or
    projects/P/secrets/S), the same secret as the policy's key_secret. Terraform
    never creates keys.
    mint = "user" (a user's consent, not a service account: email is the user's)
    grants the same on key_secret_id, the secret of the policy's credential_secret,
    which tvm import-user fills.
  EOT
  default     = {}

  validation {
    condition     = alltrue([for alias, sa in var.service_accounts : can(regex("^[a-z][a-z0-9-]{0,62}$", alias))])
    error_message = "Each service_accounts key must be a policy alias: 1 to 63 lowercase letters, digits or hyphens, starting with a letter."
  }

  validation {
    condition = alltrue([for sa in values(var.service_accounts) :
      sa.mint == "user"
      ? can(regex("^[^@\\s/]+@[^@\\s/]+\\.[^@\\s/]+$", sa.email))
      : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", sa.email))
    ])
    error_message = "Each service_accounts email must be a user-managed service account email: name@project-id.iam.gserviceaccount.com (default service accounts are too broad to hand out), or with mint = \"user\" the user's email."
  }

  validation {
    condition     = alltrue([for sa in values(var.service_accounts) : contains(["impersonate", "key", "user"], sa.mint)])
    error_message = "Each service_accounts mint must be one of impersonate, key, user."
  }

  validation {
    condition = alltrue([for sa in values(var.service_accounts) :
      contains(["key", "user"], sa.mint)
      ? sa.key_secret_id != null && can(regex("^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/secrets/)?[A-Za-z0-9_-]{1,255}$", sa.key_secret_id))
      : sa.key_secret_id == null
    ])
    error_message = "key_secret_id is required with mint = \"key\" or \"user\" (a secret ID, or projects/P/secrets/S, without /versions/) and must be absent with mint = \"impersonate\"."
  }

  validation {
    condition     = alltrue([for sa in values(var.service_accounts) : sa.mint == "impersonate" || (!sa.id_tokens && !sa.sign_jwt)])
    error_message = "id_tokens and sign_jwt apply to mint = \"impersonate\" accounts only."
  }
}

# ---------------------------------------------------------------------------------------
# Function environment (keys of CONFIG_VARIABLES in src/config.ts; null: tvm's default)
# ---------------------------------------------------------------------------------------

variable "issuer_url" {
  type        = string
  description = "TVM_ISSUER, the deployment's public base URL and OAuth issuer identifier (the aud of client assertions). Null: https://<region>-<project_id>.cloudfunctions.net/<name>, the function's own predictable URL. Set it when callers reach tvm through a custom domain or load balancer."
  default     = null

  validation {
    condition     = var.issuer_url == null || can(regex("^https://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-])?$", var.issuer_url))
    error_message = "issuer_url must be an https:// URL without a trailing slash, query or fragment."
  }
}

variable "trusted_proxy_hops" {
  type        = number
  description = "TVM_TRUSTED_PROXY_HOPS: reverse proxies in front of tvm that append to X-Forwarded-For (0 to 5). Google's front end is 1; add 1 for an external load balancer in front."
  default     = 1

  validation {
    condition     = var.trusted_proxy_hops >= 0 && var.trusted_proxy_hops <= 5 && floor(var.trusted_proxy_hops) == var.trusted_proxy_hops
    error_message = "trusted_proxy_hops must be an integer from 0 to 5."
  }
}

variable "policy_refresh_seconds" {
  type        = number
  description = "TVM_POLICY_REFRESH_SECONDS: how often the policy secret is re-read (5 to 86400). Null: tvm's default (60)."
  default     = null

  validation {
    condition     = var.policy_refresh_seconds == null || try(var.policy_refresh_seconds >= 5 && var.policy_refresh_seconds <= 86400 && floor(var.policy_refresh_seconds) == var.policy_refresh_seconds, false)
    error_message = "policy_refresh_seconds must be an integer from 5 to 86400."
  }
}

variable "rate_limit_per_ip" {
  type        = number
  description = "TVM_RATE_LIMIT_PER_IP: token requests per minute per client IP, per instance (1 to 1000000). Null: tvm's default (120)."
  default     = null

  validation {
    condition     = var.rate_limit_per_ip == null || try(var.rate_limit_per_ip >= 1 && var.rate_limit_per_ip <= 1000000 && floor(var.rate_limit_per_ip) == var.rate_limit_per_ip, false)
    error_message = "rate_limit_per_ip must be an integer from 1 to 1000000."
  }
}

variable "rate_limit_per_client" {
  type        = number
  description = "TVM_RATE_LIMIT_PER_CLIENT: token requests per minute per authenticated client, per instance (1 to 1000000). Null: tvm's default (600)."
  default     = null

  validation {
    condition     = var.rate_limit_per_client == null || try(var.rate_limit_per_client >= 1 && var.rate_limit_per_client <= 1000000 && floor(var.rate_limit_per_client) == var.rate_limit_per_client, false)
    error_message = "rate_limit_per_client must be an integer from 1 to 1000000."
  }
}

variable "log_level" {
  type        = string
  description = "TVM_LOG_LEVEL: one of debug, info, warn, error, silent."
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error", "silent"], var.log_level)
    error_message = "log_level must be one of debug, info, warn, error, silent."
  }
}

# ---------------------------------------------------------------------------------------
# Optional shared store (Memorystore for Redis + Serverless VPC Access)
# ---------------------------------------------------------------------------------------

variable "enable_redis" {
  type        = bool
  description = "The shared store (docs/shared-store.md): a Memorystore for Redis instance (AUTH and in-transit encryption on), a Serverless VPC Access connector for the function's private-range egress, the secrets <name>-redis-auth (filled from the instance) and <name>-cache-key (its value added out of band) readable by the runtime account only, and TVM_REDIS_URL, TVM_REDIS_CA, TVM_REDIS_AUTH_SECRET and TVM_CACHE_KEY_SECRET set. Rate limits, the replay guard and the token cache then hold across instances."
  default     = false
}

variable "create_redis_secrets" {
  type        = bool
  description = "With enable_redis: create the secrets <name>-redis-auth (its version made from the instance's AUTH string) and <name>-cache-key, and grant the runtime account access. false: both exist in project_id already, made by the bootstrap root (enable_redis there), readable by the runtime account only, their versions added by a project owner; the module then creates, grants and writes nothing on them, so the deployer needs no role on them."
  default     = true
}

variable "redis_network" {
  type        = string
  description = "Name of the VPC network (in project_id) the Redis instance and the VPC connector attach to. Used only with enable_redis."
  default     = "default"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.redis_network))
    error_message = "redis_network must be a VPC network name."
  }
}

variable "vpc_connector_cidr" {
  type        = string
  description = "An unused /28 range in redis_network for the Serverless VPC Access connector. Used only with enable_redis."
  default     = "10.8.0.0/28"

  validation {
    condition     = can(cidrhost(var.vpc_connector_cidr, 0)) && endswith(var.vpc_connector_cidr, "/28")
    error_message = "vpc_connector_cidr must be an IPv4 /28 range, e.g. 10.8.0.0/28."
  }
}

variable "redis_tier" {
  type        = string
  description = "Memorystore tier: BASIC (single node) or STANDARD_HA (replicated, with failover). Used only with enable_redis."
  default     = "BASIC"

  validation {
    condition     = contains(["BASIC", "STANDARD_HA"], var.redis_tier)
    error_message = "redis_tier must be one of BASIC, STANDARD_HA."
  }
}

variable "redis_memory_size_gb" {
  type        = number
  description = "Memorystore capacity in GiB (1 to 300). Rate-limit counters need very little. Used only with enable_redis."
  default     = 1

  validation {
    condition     = var.redis_memory_size_gb >= 1 && var.redis_memory_size_gb <= 300 && floor(var.redis_memory_size_gb) == var.redis_memory_size_gb
    error_message = "redis_memory_size_gb must be an integer from 1 to 300."
  }
}

# ---------------------------------------------------------------------------------------
# Observability: log-based metrics, alert policies, a dashboard, an uptime check
# ---------------------------------------------------------------------------------------

variable "enable_monitoring" {
  type        = bool
  description = "Create log-based metrics (vends, denials by reason, upstream errors), alert policies for upstream failures and for a denial spike, a Cloud Monitoring dashboard and an uptime check of GET /health. Needs the Logging and Monitoring APIs."
  default     = true
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Notification channel IDs (projects/P/notificationChannels/N) the alert policies notify. Empty: the alerts open incidents in the console only."
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9]+$", c))])
    error_message = "Each alert_notification_channels entry must be projects/<project>/notificationChannels/<number>."
  }
}

variable "upstream_error_threshold" {
  type        = number
  description = "Alert when more than this many requests fail upstream (Google refused or did not answer: ERR_UPSTREAM_*) in 5 minutes."
  default     = 5

  validation {
    condition     = var.upstream_error_threshold >= 0 && floor(var.upstream_error_threshold) == var.upstream_error_threshold
    error_message = "upstream_error_threshold must be a whole number, 0 or more."
  }
}

variable "denial_spike_threshold" {
  type        = number
  description = "Alert when more than this many token requests are denied in 5 minutes (a misconfigured client, a rolled key not yet in the policy, or someone guessing)."
  default     = 50

  validation {
    condition     = var.denial_spike_threshold >= 0 && floor(var.denial_spike_threshold) == var.denial_spike_threshold
    error_message = "denial_spike_threshold must be a whole number, 0 or more."
  }
}
