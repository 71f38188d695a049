terraform {
  # 1.9 for validations that look at other variables; below 2.0 because a new major
  # version may change the language.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 8.0.0"
    }
  }

  # Local state on the first apply: the bucket for remote state is what this root
  # creates. docs/deploy.md shows how to move this state into it afterwards.
}
