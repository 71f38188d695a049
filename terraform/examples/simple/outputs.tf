output "issuer" {
  description = "The base URL callers use: POST <issuer>/token."
  value       = module.tvm.issuer
}

output "function_url" {
  description = "The URL Google reports for the function."
  value       = module.tvm.function_url
}

output "runtime_service_account_email" {
  description = "The function's runtime service account."
  value       = module.tvm.runtime_service_account_email
}

output "policy_secret_id" {
  description = "The policy secret; add a version to change the policy without Terraform."
  value       = module.tvm.policy_secret_id
}
