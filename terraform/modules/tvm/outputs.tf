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
  value       = google_service_account.runtime.email
}

output "policy_secret_id" {
  description = "Resource ID of the policy secret (projects/P/secrets/S). Add a version to change the policy without Terraform."
  value       = google_secret_manager_secret.policy.id
}

output "policy_secret_version" {
  description = "Resource name of the policy version this apply wrote."
  value       = google_secret_manager_secret_version.policy.name
}

output "source_bucket" {
  description = "Name of the bucket holding the function source zips."
  value       = google_storage_bucket.source.name
}

output "redis_host" {
  description = "Private address of the Memorystore instance, or null without enable_redis."
  value       = var.enable_redis ? google_redis_instance.store[0].host : null
}

output "vpc_connector" {
  description = "ID of the Serverless VPC Access connector, or null without enable_redis."
  value       = var.enable_redis ? google_vpc_access_connector.redis[0].id : null
}
