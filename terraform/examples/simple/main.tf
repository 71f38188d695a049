# A root configuration to copy: one tvm deployment in one project.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "tvm" {
  source = "../../modules/tvm"

  project_id = var.project_id
  region     = var.region
  name       = var.name
  labels     = var.labels

  source_zip_path = var.source_zip_path
  policy_file     = var.policy_file

  service_accounts                  = var.service_accounts
  allow_unauthenticated_invocations = var.allow_unauthenticated_invocations

  min_instance_count = var.min_instance_count
  max_instance_count = var.max_instance_count
  log_level          = var.log_level

  enable_redis = var.enable_redis
}
