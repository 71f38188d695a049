terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 8.0.0"
    }
  }

  # State in the bucket the bootstrap root creates (terraform/bootstrap, docs/deploy.md).
  # Partial configuration:
  # terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=tvm"
  backend "gcs" {}
}
