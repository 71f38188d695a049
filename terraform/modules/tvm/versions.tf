terraform {
  # 1.5 for startswith() and lifecycle preconditions; below 2.0 because a new major
  # version may change the language.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.x: Cloud Functions 2nd gen with service_config, Cloud Run v2 IAM resources.
      # The offline tests (test/deploy) check this module against the 6.50.0 schema.
      version = ">= 6.14.0, < 7.0.0"
    }
  }
}
