output "state_bucket" {
  description = "The Terraform state bucket: terraform init -backend-config=bucket=<this>."
  value       = google_storage_bucket.state.name
}

output "artifacts_bucket" {
  description = "Where the build pipeline publishes function-source.zip and policy.yaml per commit."
  value       = google_storage_bucket.artifacts.name
}

output "deployer_email" {
  description = "The deploy pipeline's account (tvm-deployer)."
  value       = google_service_account.deployer.email
}

output "ci_email" {
  description = "The main-branch build pipeline's account (tvm-ci)."
  value       = google_service_account.ci.email
}

output "pr_email" {
  description = "The pull-request build pipeline's account (tvm-pr)."
  value       = google_service_account.pr.email
}

output "module_inputs" {
  description = "What to put in the deployed root's terraform.tfvars so the module uses what this root made."
  value = {
    enable_apis                   = false
    runtime_service_account_email = google_service_account.runtime.email
    build_service_account         = google_service_account.function_build.email
    create_policy_secret          = false
    create_source_bucket          = false
    source_bucket_name            = google_storage_bucket.source.name
    # With enable_redis here, the shared store's secrets exist already.
    create_redis_secrets = !var.enable_redis
  }
}

output "redis_secrets" {
  description = "The shared store's secrets (with enable_redis), each readable by tvm-runtime only: add their versions as the README says. Null without enable_redis."
  value       = var.enable_redis ? { for k, s in google_secret_manager_secret.redis : k => s.id } : null
}
