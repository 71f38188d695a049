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
  description = "The function's name. It is also the underlying Cloud Run service's name and part of the function's URL."
  default     = "tvm"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$", var.name))
    error_message = "name must be 1 to 49 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
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
  description = "Path to the function source zip: package.json, package-lock.json and the prebuilt build/ directory (cloudbuild.yaml's package step makes it). A new zip content means a new object name and a redeploy."

  validation {
    condition     = endswith(var.source_zip_path, ".zip")
    error_message = "source_zip_path must name a .zip file."
  }
}

variable "source_bucket_name" {
  type        = string
  description = "Name of the bucket created to hold the function source. Default: <project_id>-<name>-source."
  default     = null

  validation {
    condition     = var.source_bucket_name == null || can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.source_bucket_name))
    error_message = "source_bucket_name must be a bucket name: 3 to 63 lowercase letters, digits, hyphens, underscores or dots."
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
  description = "Upper bound on instances (1 to 1000). Rate limits are per instance until the shared Redis store lands, so this also bounds the effective rate."
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

variable "allow_unauthenticated_invocations" {
  type        = bool
  description = "Grant roles/run.invoker to allUsers on the function's Cloud Run service. tvm's callers live outside Google Cloud and authenticate to tvm itself (API key, signed assertion or OIDC token), so they cannot present a Google identity: true is the usual setting. false keeps Google's IAM check in front (callers then need roles/run.invoker some other way). No default: the choice must be explicit."
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
  }))
  description = <<-EOT
    The target service accounts tvm may mint tokens for, by their alias in the policy
    (service_accounts.<alias>). mint = "impersonate" (default, keyless) grants the
    runtime account roles/iam.serviceAccountTokenCreator on that account only.
    mint = "key" grants roles/secretmanager.secretAccessor on key_secret_id only: the
    secret that holds the account's JSON key (a secret ID in project_id, or
    projects/P/secrets/S), the same secret as the policy's key_secret. Terraform
    never creates keys.
  EOT
  default     = {}

  validation {
    condition     = alltrue([for alias, sa in var.service_accounts : can(regex("^[a-z][a-z0-9-]{0,62}$", alias))])
    error_message = "Each service_accounts key must be a policy alias: 1 to 63 lowercase letters, digits or hyphens, starting with a letter."
  }

  validation {
    condition     = alltrue([for sa in values(var.service_accounts) : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", sa.email))])
    error_message = "Each service_accounts email must be a user-managed service account email: name@project-id.iam.gserviceaccount.com. Default service accounts are too broad to hand out."
  }

  validation {
    condition     = alltrue([for sa in values(var.service_accounts) : contains(["impersonate", "key"], sa.mint)])
    error_message = "Each service_accounts mint must be one of impersonate, key."
  }

  validation {
    condition = alltrue([for sa in values(var.service_accounts) :
      sa.mint == "key"
      ? sa.key_secret_id != null && can(regex("^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/secrets/)?[A-Za-z0-9_-]{1,255}$", sa.key_secret_id))
      : sa.key_secret_id == null
    ])
    error_message = "key_secret_id is required with mint = \"key\" (a secret ID, or projects/P/secrets/S, without /versions/) and must be absent with mint = \"impersonate\"."
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
# Optional shared rate-limit store (Memorystore for Redis + Serverless VPC Access)
# ---------------------------------------------------------------------------------------

variable "enable_redis" {
  type        = bool
  description = "Create a Memorystore for Redis instance and a Serverless VPC Access connector, and route the function's private-range egress through it. For the shared rate-limit store of a later release: this version of tvm does not use it yet."
  default     = false
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
