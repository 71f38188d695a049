terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 7.0.0"
    }
  }

  # State in a GCS bucket you create once (see docs/deploy.md). Partial configuration:
  # terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=tvm"
  backend "gcs" {}
}
