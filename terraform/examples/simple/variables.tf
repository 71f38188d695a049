variable "project_id" {
  type        = string
  description = "The project to deploy tvm into."
}

variable "region" {
  type        = string
  description = "The region for the function, e.g. europe-west1."
}

variable "name" {
  type        = string
  description = "The function's name (4 to 49 characters)."
  default     = "tvm-vend"
}

variable "labels" {
  type        = map(string)
  description = "Labels for every resource that takes labels."
  default     = {}
}

variable "source_zip_path" {
  type        = string
  description = "Path to the function source zip made by scripts/package-function.py (cloudbuild.yaml runs it), e.g. ../../../function-source.zip."
}

variable "policy_file" {
  type        = string
  description = "Path to your policy YAML, e.g. ../../../policy/production.yaml."
}

variable "service_accounts" {
  type = map(object({
    email         = string
    mint          = optional(string, "impersonate")
    key_secret_id = optional(string)
    id_tokens     = optional(bool, false)
    sign_jwt      = optional(bool, false)
  }))
  description = "Target service accounts by policy alias; see the module's README."
  default     = {}
}

variable "invoker" {
  type        = string
  description = "allUsers, no_iam_check or iam: who gets past Cloud Run's front end (callers authenticate to tvm itself). See the module's README."
}

variable "enable_apis" {
  type        = bool
  description = "Enable the APIs tvm needs. false when the bootstrap root enabled them."
  default     = true
}

variable "runtime_service_account_email" {
  type        = string
  description = "The runtime account the bootstrap root made; null: the module creates one."
  default     = null
}

variable "build_service_account" {
  type        = string
  description = "The account Cloud Build builds the function's image as (the bootstrap root makes one); null: the project's default."
  default     = null
}

variable "create_policy_secret" {
  type        = bool
  description = "false when the bootstrap root made the policy secret."
  default     = true
}

variable "create_source_bucket" {
  type        = bool
  description = "false when the bootstrap root made the source bucket (then set source_bucket_name)."
  default     = true
}

variable "source_bucket_name" {
  type        = string
  description = "The source bucket; null: <project_id>-<name>-source."
  default     = null
}

variable "enable_monitoring" {
  type        = bool
  description = "Log-based metrics, alerts, the dashboard and the /health uptime check."
  default     = true
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Notification channels for the alerts (projects/P/notificationChannels/N)."
  default     = []
}

variable "min_instance_count" {
  type        = number
  description = "Instances kept warm."
  default     = 0
}

variable "max_instance_count" {
  type        = number
  description = "Upper bound on instances."
  default     = 10
}

variable "log_level" {
  type        = string
  description = "debug, info, warn, error or silent."
  default     = "info"
}

variable "enable_redis" {
  type        = bool
  description = "The shared store (docs/shared-store.md): a Memorystore instance, a VPC connector and two secrets; rate limits, the replay guard and the token cache then hold across instances."
  default     = false
}

variable "create_redis_secrets" {
  type        = bool
  description = "false when the bootstrap root made the shared store's two secrets (its enable_redis)."
  default     = true
}
