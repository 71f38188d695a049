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
  description = "The function's name."
  default     = "tvm"
}

variable "labels" {
  type        = map(string)
  description = "Labels for every resource that takes labels."
  default     = {}
}

variable "source_zip_path" {
  type        = string
  description = "Path to the function source zip made by `npm run build` and the package step (cloudbuild.yaml), e.g. ../../../function-source.zip."
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
  }))
  description = "Target service accounts by policy alias; see the module's README."
  default     = {}
}

variable "allow_unauthenticated_invocations" {
  type        = bool
  description = "Let anyone reach the function (callers authenticate to tvm itself). Usually true; see the module's README."
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
  description = "Create the optional Memorystore instance and VPC connector (not used by this release yet)."
  default     = false
}
