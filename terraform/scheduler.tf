# Cloud Scheduler calls publish-live with {"pending": true}, authenticated by an OIDC token of its
# own service account (run.invoker on publish-live only; see iam.tf).

resource "google_cloud_scheduler_job" "publish_live" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-publish-live"
  description = "Publish pending Webflow CMS changes."
  schedule    = var.publish_schedule
  time_zone   = var.publish_time_zone
  paused      = var.publish_schedule_paused

  # Each run waits for the function's answer; the next tick picks up anything left over, so a
  # failed run is not retried (no retry storm against the Webflow rate limit).
  attempt_deadline = "${min(local.functions["publish-live"].timeout_seconds, 1800)}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.this["publish-live"].url
    body        = base64encode(jsonencode({ pending = true }))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      # The same URL as uri, written from the inputs: publish-live checks it (PUBLISH_OIDC_AUDIENCE).
      audience = local.publish_live_audience
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler_invokes_publish_live]
}
