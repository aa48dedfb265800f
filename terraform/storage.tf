# Ingestion bucket (uploads that become Webflow assets) and source bucket (function bundles).

resource "google_storage_bucket" "ingestion" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (Data Access logs for Cloud Storage), the recommended mechanism; legacy usage logs would need a second bucket and add nothing here.
  project                     = var.project_id
  name                        = local.ingestion_bucket_name
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Versioning keeps an overwritten or deleted upload recoverable for a few days; every new
  # generation still raises its own finalize event, which upload-asset processes once.
  versioning {
    enabled = true
  }

  # Uploads are inputs only (the asset lives in Webflow once attached), so they expire.
  lifecycle_rule {
    condition {
      age = var.upload_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this]
}

# The intake queue (docs/intake.md): one object per queued form post or webhook, written by
# create-items, moved to done/ or failed/ by drain-intake. A bucket of its own, so that its
# events go to drain-intake only and its objects never to upload-asset.
resource "google_storage_bucket" "intake" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (Data Access logs for Cloud Storage); usage logs would need a second bucket and add nothing here.
  #checkov:skip=CKV_GCP_78:No versioning: every state change writes the new object create-if-absent and deletes the old one, so noncurrent versions would only keep copies of submissions that are kept anyway (done/ for audit, failed/ until replayed).
  project                     = var.project_id
  name                        = local.intake_bucket_name
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Written submissions are kept for audit, then deleted.
  lifecycle_rule {
    condition {
      age            = var.intake_retention_days
      matches_prefix = ["${local.intake_prefix}/done/"]
    }
    action {
      type = "Delete"
    }
  }

  # Spam (docs/spam.md) waits this long for someone to review and release it.
  lifecycle_rule {
    condition {
      age            = var.spam_retention_days
      matches_prefix = ["${local.intake_prefix}/spam/"]
    }
    action {
      type = "Delete"
    }
  }

  # A claim outlives its drain only when the drain died; a day later nobody needs it.
  lifecycle_rule {
    condition {
      age            = 1
      matches_prefix = ["${local.intake_prefix}/claims/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds only deployment bundles written by Terraform; Cloud Audit Logs record access, usage logs would need a second bucket and add nothing here.
  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets
  labels                      = local.labels

  # Keeps the bundles of earlier deploys for a rollback.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

# Bundles from deploy/package.py. The object name carries the bundle's hash, so a changed bundle
# is a new object and makes Terraform redeploy that function (and only that one).
resource "google_storage_bucket_object" "source" {
  for_each = toset(local.function_names)

  bucket       = google_storage_bucket.sources.name
  name         = "${each.key}/${filesha256("${local.source_archive_dir}/${each.key}.zip")}.zip"
  source       = "${local.source_archive_dir}/${each.key}.zip"
  content_type = "application/zip"
}
