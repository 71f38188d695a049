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

  service_accounts = var.service_accounts
  invoker          = var.invoker

  # With the bootstrap root (terraform/bootstrap): the APIs, the runtime account, the
  # policy secret and the source bucket exist already, so the deployer needs no
  # project-wide role to create them.
  enable_apis                   = var.enable_apis
  runtime_service_account_email = var.runtime_service_account_email
  build_service_account         = var.build_service_account
  create_policy_secret          = var.create_policy_secret
  create_source_bucket          = var.create_source_bucket
  source_bucket_name            = var.source_bucket_name

  enable_monitoring           = var.enable_monitoring
  alert_notification_channels = var.alert_notification_channels

  min_instance_count = var.min_instance_count
  max_instance_count = var.max_instance_count
  log_level          = var.log_level

  enable_redis         = var.enable_redis
  create_redis_secrets = var.create_redis_secrets
}
