# What the runtime account may mint for, derived from var.service_accounts. Locals only,
# so the offline tests (test/deploy/terraform-eval.test.ts) evaluate them with the real
# Terraform binary and no provider.

locals {
  # Keyless minting. One grant per distinct target account, however many aliases share
  # it; the permissions are the union of what its aliases ask for.
  impersonated = {
    for email in toset([for sa in values(var.service_accounts) : sa.email if sa.mint == "impersonate"]) :
    email => {
      project  = regex("@([a-z0-9-]+)\\.iam\\.gserviceaccount\\.com$", email)[0]
      id_token = anytrue([for sa in values(var.service_accounts) : sa.id_tokens if sa.email == email && sa.mint == "impersonate"])
      sign_jwt = anytrue([for sa in values(var.service_accounts) : sa.sign_jwt if sa.email == email && sa.mint == "impersonate"])
    }
  }
  # A project-level custom role can be granted only on resources of its own project, so
  # there is one role per target project and permission set, e.g. "p1/access" or
  # "p2/access_id".
  minter_variant = {
    for email, t in local.impersonated :
    email => "${t.project}/access${t.id_token ? "_id" : ""}${t.sign_jwt ? "_jwt" : ""}"
  }
  minter_roles = {
    for key in toset(values(local.minter_variant)) : key => {
      project = split("/", key)[0]
      suffix  = trimprefix(split("/", key)[1], "access")
      permissions = concat(
        ["iam.serviceAccounts.getAccessToken"],
        strcontains(key, "_id") ? ["iam.serviceAccounts.getOpenIdToken"] : [],
        strcontains(key, "_jwt") ? ["iam.serviceAccounts.signJwt"] : [],
      )
    }
  }

  key_secret_names = toset([
    for sa in values(var.service_accounts) :
    startswith(sa.key_secret_id, "projects/") ? sa.key_secret_id : "projects/${var.project_id}/secrets/${sa.key_secret_id}"
    if contains(["key", "user"], sa.mint)
  ])
}
