# The five functions. upload-asset is triggered by Eventarc on object finalize in the ingestion
# bucket, drain-intake on object finalize in the intake bucket (and swept by Cloud Scheduler); the
# others are HTTP functions.

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:Ingress is set per function: ALLOW_ALL only for create-items and update-items, whose callers (browsers, Webflow webhooks, servers) are outside Google Cloud; both stay private behind run.invoker IAM unless enable_public_form_posts opens create-items. publish-live and upload-asset default to ALLOW_INTERNAL_ONLY.
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${each.key}"
  description = each.value.description
  labels      = merge(local.labels, { function = each.key })

  build_config {
    runtime         = "python312"
    entry_point     = each.value.entry_point
    service_account = var.create_build_service_account ? google_service_account.build[0].id : null

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    environment_variables            = local.environment[each.key]

    dynamic "secret_environment_variables" {
      for_each = toset(local.function_secret_names[each.key])
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = lookup(local.event_triggers, each.key, null) == null ? [] : [local.event_triggers[each.key]]
    content {
      trigger_region        = event_trigger.value.region
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = event_trigger.value.retry_policy
      service_account_email = google_service_account.trigger.email

      event_filters {
        attribute = "bucket"
        value     = event_trigger.value.bucket
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.instance_rate_limit[each.key] >= 1
      error_message = "${each.key}: its share of webflow_rate_limit_per_minute (${local.function_rate_budget[each.key]}/min) is less than one request per minute per instance across ${each.value.max_instances} instances; lower max_instances or raise its rate_limit_share."
    }
    precondition {
      condition     = each.value.min_instances <= each.value.max_instances
      error_message = "${each.key}: min_instances (${each.value.min_instances}) must not exceed max_instances (${each.value.max_instances})."
    }
    precondition {
      condition     = each.value.concurrency == 1 || tonumber(each.value.cpu) >= 1
      error_message = "${each.key}: concurrency above 1 needs cpu of at least 1."
    }
    precondition {
      condition     = each.key != "upload-asset" || each.value.timeout_seconds <= 540
      error_message = "upload-asset: event-driven functions allow a timeout of at most 540 seconds."
    }
    precondition {
      condition     = each.key != "drain-intake" || var.intake_max_run_seconds + 60 <= each.value.timeout_seconds
      error_message = "drain-intake: intake_max_run_seconds (${var.intake_max_run_seconds}) plus a minute for the last batch must fit in its timeout_seconds (${each.value.timeout_seconds})."
    }
    precondition {
      condition     = each.key != "drain-intake" || each.value.max_instances == 1
      error_message = "drain-intake: one writer owns the intake's share of the rate limit; max_instances must be 1."
    }
    precondition {
      # A run must stop by itself (reporting what remains) before the platform cuts it off.
      condition     = each.key != "publish-live" || var.publish_max_run_seconds + 60 <= each.value.timeout_seconds
      error_message = "publish-live: publish_max_run_seconds (${var.publish_max_run_seconds}) plus a minute for the last requests must fit in its timeout_seconds (${each.value.timeout_seconds})."
    }
  }

  depends_on = [
    google_project_iam_member.gcs_service_agent_pubsub_publisher,
    google_project_iam_member.trigger_event_receiver,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_source_reader,
    google_secret_manager_secret_iam_member.function_accessor,
  ]
}

locals {
  # The storage triggers: upload-asset's events are retried (each upload is processed once, by its
  # ledger); drain-intake's are not (a failed drain leaves its submissions pending, and the sweep
  # takes them a minute later, so retries would only add load against the rate limit).
  event_triggers = {
    "upload-asset" = {
      bucket       = local.ingestion_bucket_name
      region       = lower(google_storage_bucket.ingestion.location)
      retry_policy = "RETRY_POLICY_RETRY"
    }
    "drain-intake" = {
      bucket       = local.intake_bucket_name
      region       = lower(google_storage_bucket.intake.location)
      retry_policy = "RETRY_POLICY_DO_NOT_RETRY"
    }
  }
}
