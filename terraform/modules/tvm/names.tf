# Every name the module derives from its inputs, in one place. This file holds locals
# only, so the offline tests (test/deploy/terraform-eval.test.ts) evaluate it with the
# real Terraform binary and no provider, together with variables.tf, whose validations
# keep each derived name within Google's rules.

locals {
  # Cloud Functions 2nd gen function id, also the Cloud Run service's name.
  function_name = var.name

  # Cloud Storage: 3 to 63 characters, no "google", not starting with "goog".
  source_bucket_name = coalesce(var.source_bucket_name, "${var.project_id}-${var.name}-source")

  # Content-addressed, so a new build is a new object and the function redeploys. The
  # zip is read only when it exists: terraform destroy (and a plan that only reads
  # outputs) must not need it. A missing zip on create or update is refused by the
  # precondition on google_storage_bucket_object.source.
  source_object_name = "${var.name}-${try(filemd5(var.source_zip_path), "no-source-zip")}.zip"

  # The policy text, read only when the file exists, for the same reason; a missing
  # file on create or update is refused by the precondition on
  # google_secret_manager_secret_version.policy.
  policy_text = try(file(var.policy_file), null)

  # Serverless VPC Access connector: at most 25 characters.
  vpc_connector_name = "${var.name}-redis"

  # Memorystore for Redis instance id: at most 40 characters.
  redis_instance_name = "${var.name}-store"

  # Secret Manager secret ids (letters, digits, - and _, at most 255) of the shared
  # store: the AUTH string and the key that encrypts tokens at rest.
  redis_auth_secret_id = "${var.name}-redis-auth"
  cache_key_secret_id  = "${var.name}-cache-key"

  # Custom role ids: letters, digits, underscores and dots, 3 to 64 characters. One
  # role per target project and permission set (see local.minter_roles in main.tf).
  minter_role_prefix = "${replace(var.name, "-", "_")}_minter"

  # Log-based metric names (the observability resources): letters, digits and
  # _-.,+!*',()%/\ up to 100 characters; "/" makes a folder in Metrics Explorer.
  metric_prefix = "tvm/${var.name}"
}
