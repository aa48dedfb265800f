# Secret Manager secrets, created empty. Their values never pass through Terraform (no tfvars, no
# state, no outputs): add versions with `gcloud secrets versions add` as README.md shows. The
# functions read version "latest" at instance start.

resource "google_secret_manager_secret" "this" {
  for_each = local.enabled_secrets

  project   = var.project_id
  secret_id = each.value
  labels    = merge(local.labels, { env-var = lower(replace(each.key, "_", "-")) })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}
