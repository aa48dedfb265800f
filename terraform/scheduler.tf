# Cloud Scheduler calls publish-live with {"pending": true}, and sweeps the intake queue through
# drain-intake, each authenticated by an OIDC token of the scheduler's service account (run.invoker
# on those two functions only; see iam.tf).

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

# The sweep: drains whatever the storage events left behind (a failed run, a Webflow outage, a
# replay). An empty POST; a run that finds nothing pending costs one listing and no Webflow call.
resource "google_cloud_scheduler_job" "intake_sweep" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-intake-sweep"
  description = "Write queued form posts and webhooks to the Webflow CMS."
  schedule    = var.intake_sweep_schedule
  time_zone   = "Etc/UTC"

  attempt_deadline = "${min(local.functions["drain-intake"].timeout_seconds, 1800)}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.this["drain-intake"].url

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.this["drain-intake"].url
    }
  }

  depends_on = [google_cloud_run_service_iam_member.scheduler_invokes_drain_intake]
}
