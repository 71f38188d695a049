output "function_url" {
  description = "The URL Google reports for the function (its Cloud Run or cloudfunctions.net address)."
  value       = google_cloudfunctions2_function.tvm.url
}

output "issuer" {
  description = "TVM_ISSUER as deployed: the base URL callers use (POST <issuer>/token) and the aud of their client assertions."
  value       = local.issuer
}

output "function_name" {
  description = "The function's name (also its Cloud Run service's name)."
  value       = google_cloudfunctions2_function.tvm.name
}

output "runtime_service_account_email" {
  description = "Email of the function's dedicated runtime service account: the principal to grant on anything else tvm must reach."
  value       = local.runtime_email
}

output "policy_secret_id" {
  description = "Resource ID of the policy secret (projects/P/secrets/S). Add a version to change the policy without Terraform."
  value       = local.policy_secret_id
}

output "policy_secret_version" {
  description = "Resource name of the policy version this apply wrote (projects/N/secrets/S/versions/V). Earlier versions stay in Secret Manager for a rollback."
  value       = google_secret_manager_secret_version.policy.name
}

output "source_bucket" {
  description = "Name of the bucket holding the function source zips."
  value       = local.source_bucket
}

output "redis_host" {
  description = "Private address of the Memorystore instance, or null without enable_redis."
  value       = var.enable_redis ? google_redis_instance.store[0].host : null
}

output "vpc_connector" {
  description = "ID of the Serverless VPC Access connector, or null without enable_redis."
  value       = var.enable_redis ? google_vpc_access_connector.redis[0].id : null
}

output "disable_invoker_iam_check_command" {
  description = "With invoker = \"no_iam_check\": the command that turns off Cloud Run's invoker IAM check on the function's service (run once after the first apply); null otherwise."
  value       = var.invoker == "no_iam_check" ? "gcloud run services update ${google_cloudfunctions2_function.tvm.name} --project=${var.project_id} --region=${var.region} --no-invoker-iam-check" : null
}

output "minter_roles" {
  description = "The custom roles the runtime account holds on the target service accounts, by target project and permission set."
  value       = { for k, r in google_project_iam_custom_role.minter : k => r.name }
}

output "dashboard_id" {
  description = "ID of the Cloud Monitoring dashboard (enable_monitoring), or null."
  value       = var.enable_monitoring ? google_monitoring_dashboard.tvm[0].id : null
}
