output "function_uris" {
  description = "HTTPS endpoint of each function, keyed by function name."
  value       = { for name, function in google_cloudfunctions2_function.this : name => function.url }
}

output "function_names" {
  description = "Cloud Functions resource names, keyed by function name."
  value       = { for name, function in google_cloudfunctions2_function.this : name => function.name }
}

output "ingestion_bucket_name" {
  description = "Ingestion bucket (UPLOAD_BUCKET): files written here under upload_prefix go to upload-asset."
  value       = google_storage_bucket.ingestion.name
}

output "intake_bucket_name" {
  description = "Intake queue bucket (INTAKE_BUCKET): queued form posts and webhooks under intake/, see docs/intake.md."
  value       = google_storage_bucket.intake.name
}

output "intake_sweep_job" {
  description = "Cloud Scheduler job that sweeps the intake queue through drain-intake."
  value       = google_cloud_scheduler_job.intake_sweep.name
}

output "source_bucket_name" {
  description = "Bucket holding the function source bundles."
  value       = google_storage_bucket.sources.name
}

output "function_service_account_emails" {
  description = "Runtime service account of each function, keyed by function name."
  value       = { for name, account in google_service_account.function : name => account.email }
}

output "trigger_service_account_email" {
  description = "Service account Eventarc uses to deliver storage events to upload-asset."
  value       = google_service_account.trigger.email
}

output "scheduler_service_account_email" {
  description = "Service account whose OIDC token the publish schedule sends to publish-live."
  value       = google_service_account.scheduler.email
}

output "secret_ids" {
  description = "Secret Manager secret IDs (names only, never values), keyed by environment variable. Add versions with gcloud secrets versions add."
  value       = { for env, secret in google_secret_manager_secret.this : env => secret.secret_id }
}

output "publish_schedule_job" {
  description = "Cloud Scheduler job that calls publish-live; run it now with gcloud scheduler jobs run."
  value       = google_cloud_scheduler_job.publish_live.name
}

output "webflow_rate_limit_per_instance" {
  description = "WEBFLOW_RATE_LIMIT_PER_MINUTE given to each function's instances (see README.md, Rate limit budget)."
  value       = local.instance_rate_limit
}
