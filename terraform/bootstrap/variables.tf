variable "project_id" {
  type        = string
  description = "The project tvm runs in: the APIs, buckets, secret, service accounts and triggers are created here."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "The region of the function, the buckets and the function's Artifact Registry repository, e.g. europe-west1."

  validation {
    condition     = can(regex("^(africa|asia|australia|europe|me|northamerica|southamerica|us)-[a-z]+[1-9][0-9]?$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1 (not a zone, not a multi-region)."
  }
}

variable "name" {
  type        = string
  description = "The function's name, as given to the module (terraform/modules/tvm): 4 to 49 lowercase letters, digits or hyphens. The source bucket is <project_id>-<name>-source."
  default     = "tvm-vend"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,47}[a-z0-9]$", var.name))
    error_message = "name must be 4 to 49 lowercase letters, digits or hyphens, start with a letter and end with a letter or digit."
  }

  validation {
    condition     = length("${var.project_id}-${var.name}-source") <= 63 && !strcontains("${var.project_id}-${var.name}", "google")
    error_message = "The source bucket <project_id>-<name>-source must be at most 63 characters and must not contain \"google\": shorten name."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Name of the Terraform state bucket to create. No default: bucket names are global, and a predictable one could be claimed by someone else first. Choose one only you would pick, e.g. <project_id>-tfstate-<random suffix>."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.state_bucket_name)) && !startswith(var.state_bucket_name, "goog") && !strcontains(var.state_bucket_name, "google")
    error_message = "state_bucket_name must be 3 to 63 lowercase letters, digits, hyphens or underscores, not beginning with \"goog\" nor containing \"google\"."
  }
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Name of the bucket where the build pipeline publishes the function zip and policy per commit. Null: <project_id>-tvm-artifacts."
  default     = null

  validation {
    condition     = var.artifacts_bucket_name == null || try(can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.artifacts_bucket_name)) && !startswith(var.artifacts_bucket_name, "goog") && !strcontains(var.artifacts_bucket_name, "google"), false)
    error_message = "artifacts_bucket_name must be 3 to 63 lowercase letters, digits, hyphens or underscores, not beginning with \"goog\" nor containing \"google\"."
  }
}

variable "policy_secret_id" {
  type        = string
  description = "Secret Manager secret ID of the policy (the module's policy_secret_id)."
  default     = "tvm-policy"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.policy_secret_id))
    error_message = "policy_secret_id must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "target_service_accounts" {
  type        = list(string)
  description = "Emails of the service accounts tvm mints for by impersonation (mint = \"impersonate\" in the module). The deployer gets roles/iam.serviceAccountAdmin on each (to grant the runtime account the minter role there) and roles/iam.roleAdmin on each one's project (to define that role)."
  default     = []

  validation {
    condition     = alltrue([for e in var.target_service_accounts : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$", e))])
    error_message = "Each target_service_accounts entry must be a user-managed service account email: name@project-id.iam.gserviceaccount.com."
  }
}

variable "key_secret_names" {
  type        = list(string)
  description = "Secrets holding the keys of mint = \"key\" accounts (projects/P/secrets/S). The deployer gets roles/secretmanager.admin on each, to grant the runtime account access."
  default     = []

  validation {
    condition     = alltrue([for s in var.key_secret_names : can(regex("^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/secrets/[A-Za-z0-9_-]{1,255}$", s))])
    error_message = "Each key_secret_names entry must be projects/<project>/secrets/<secret>."
  }
}

variable "enable_monitoring" {
  type        = bool
  description = "The module's enable_monitoring: the deployer gets roles/logging.configWriter and roles/monitoring.editor for the metrics, alerts, dashboard and uptime check."
  default     = true
}

variable "enable_redis" {
  type        = bool
  description = "Prepare for the module's enable_redis (the shared store): enable the Compute, Redis and VPC Access APIs; create the secrets <name>-redis-auth (the Redis AUTH string) and <name>-cache-key (the key that encrypts tokens at rest in Redis), readable by tvm-runtime only, the deployer holding no role on them (module: create_redis_secrets = false); grant the deployer roles/redis.admin, roles/vpcaccess.admin and roles/compute.networkViewer on the project. A project owner adds the two secrets' versions (README)."
  default     = false
}

variable "github_owner" {
  type        = string
  description = "Owner of the GitHub repository the triggers watch (the Cloud Build GitHub app must be installed on it). Null: no triggers are created."
  default     = null
}

variable "github_repository" {
  type        = string
  description = "Name of the GitHub repository the triggers watch."
  default     = null
}

variable "branch" {
  type        = string
  description = "Regular expression of the branch that builds publish from and deploys run on."
  default     = "^main$"
}

variable "policy_file" {
  type        = string
  description = "The policy, relative to the repository root (cloudbuild.yaml's _POLICY_FILE)."
  default     = "policy/production.yaml"
}

variable "tf_dir" {
  type        = string
  description = "The Terraform root the deploy pipeline applies (cloudbuild-deploy.yaml's _TF_DIR)."
  default     = "terraform/examples/simple"
}
