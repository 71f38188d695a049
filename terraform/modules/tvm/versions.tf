terraform {
  # 1.9 for validations that look at other variables (the derived names in
  # variables.tf); below 2.0 because a new major version may change the language.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.14 and 7.x: the module uses only arguments both majors have. The offline
      # tests (test/deploy) check it against the 6.50.0 schema and against the changes
      # 7.0 made to the resource types it uses (google-provider-schema-v7.json).
      version = ">= 6.14.0, < 8.0.0"
    }
  }
}
