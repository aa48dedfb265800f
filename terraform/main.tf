# Shared names, secrets map and environment variables. Resources are split by concern:
# scaling.tf (per-function settings and the rate-limit budget), storage.tf (buckets, source
# objects), secrets.tf, iam.tf (service accounts and bindings), functions.tf (the five functions
# and the storage triggers), scheduler.tf (publish schedule, intake sweep).

locals {
  function_names = ["create-items", "update-items", "publish-live", "upload-asset", "drain-intake"]

  labels = merge(var.labels, {
    app        = "webflow-functions"
    managed-by = "terraform"
  })

  source_archive_dir    = coalesce(var.source_archive_dir, "${path.module}/../dist")
  ingestion_bucket_name = coalesce(var.ingestion_bucket_name, "${var.project_id}-${var.name_prefix}-uploads")
  intake_bucket_name    = coalesce(var.intake_bucket_name, "${var.project_id}-${var.name_prefix}-intake")
  # The intake queue's objects live under this prefix of the intake bucket (shared/intake/queue.py).
  intake_prefix      = "intake"
  source_bucket_name = "${var.project_id}-${var.name_prefix}-sources"
  bucket_location    = upper(coalesce(var.bucket_location, var.region))

  # Secret Manager secrets: environment variable name => secret ID. Values never pass through
  # Terraform: the secrets are created empty and versions are added with gcloud (README.md).
  secrets = {
    WEBFLOW_API_TOKEN      = "${var.name_prefix}-api-token"
    CREATE_ITEMS_API_KEYS  = "${var.name_prefix}-create-items-api-keys"
    UPDATE_ITEMS_API_KEYS  = "${var.name_prefix}-update-items-api-keys"
    PUBLISH_API_KEYS       = "${var.name_prefix}-publish-api-keys"
    WEBFLOW_WEBHOOK_SECRET = "${var.name_prefix}-webhook-secret"
    INTAKE_API_KEYS        = "${var.name_prefix}-intake-api-keys"
    SYNC_API_KEYS          = "${var.name_prefix}-sync-api-keys"
  }

  # Secrets that exist only with the feature that reads them, and which function reads each.
  optional_secrets = {
    FORM_CAPTCHA_SECRET = "${var.name_prefix}-form-captcha-secret"
  }
  enabled_secrets = merge(
    local.secrets,
    var.form_captcha.provider == null ? {} : { FORM_CAPTCHA_SECRET = local.optional_secrets.FORM_CAPTCHA_SECRET },
  )
  function_optional_secrets = {
    "create-items" = ["FORM_CAPTCHA_SECRET"]
  }

  # Which function reads which secret (each gets secretAccessor on exactly these). Each function
  # has keys of its own: a key that may create items can neither patch them nor publish the site.
  function_secrets = {
    "create-items" = ["WEBFLOW_API_TOKEN", "CREATE_ITEMS_API_KEYS", "WEBFLOW_WEBHOOK_SECRET", "SYNC_API_KEYS"]
    "update-items" = ["WEBFLOW_API_TOKEN", "UPDATE_ITEMS_API_KEYS"]
    "publish-live" = ["WEBFLOW_API_TOKEN", "PUBLISH_API_KEYS"]
    "upload-asset" = ["WEBFLOW_API_TOKEN"]
    "drain-intake" = ["WEBFLOW_API_TOKEN", "INTAKE_API_KEYS"]
  }

  # Each function's secrets: its own, and the optional ones whose feature is on.
  function_secret_names = {
    for name, secret_names in local.function_secrets : name => concat(
      secret_names,
      [for secret in lookup(local.function_optional_secrets, name, []) : secret if contains(keys(local.enabled_secrets), secret)],
    )
  }

  function_secret_pairs = merge([
    for name, secret_names in local.function_secret_names : {
      for secret_name in secret_names : "${name}/${secret_name}" => {
        function = name
        secret   = secret_name
      }
    }
  ]...)

  publish_collection_ids = length(var.publish_collection_ids) > 0 ? var.publish_collection_ids : [var.webflow_collection_id]

  # publish-live's cloudfunctions.net URL, built from its inputs rather than read from the
  # function: the function's own environment cannot depend on the function (a cycle). The
  # scheduler's token names it as audience and publish-live accepts only that audience.
  publish_live_audience = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name_prefix}-publish-live"

  upload_allowed_extensions = length(var.upload_allowed_extensions) > 0 ? join(",", var.upload_allowed_extensions) : null

  # How form posts and webhooks become items: create-items checks and queues them, drain-intake
  # maps and writes them, so both read the same mapping, drafts and upload settings.
  item_mapping_environment = {
    UPLOAD_BUCKET        = local.ingestion_bucket_name
    UPLOAD_PREFIX        = var.upload_prefix
    FIELD_MAP            = var.field_map
    FORM_FIELDS          = length(var.form_fields) > 0 ? join(",", var.form_fields) : null
    FORM_CREATE_AS_DRAFT = tostring(var.form_create_as_draft)
    CREATE_AS_DRAFT      = tostring(var.create_as_draft)
    # The same list as upload-asset's, so that a form never accepts a file it would refuse.
    UPLOAD_ALLOWED_EXTENSIONS = local.upload_allowed_extensions
    INTAKE_BUCKET             = local.intake_bucket_name
    INTAKE_PREFIX             = local.intake_prefix
    IMAGE_MAX_INPUT_BYTES     = tostring(var.image_max_input_bytes)
  }

  common_environment = {
    WEBFLOW_API_BASE_URL  = var.webflow_api_base_url
    WEBFLOW_SITE_ID       = var.webflow_site_id
    WEBFLOW_COLLECTION_ID = var.webflow_collection_id
    LOG_LEVEL             = var.log_level
    GOOGLE_CLOUD_PROJECT  = var.project_id
  }

  function_environment = {
    "create-items" = merge(local.item_mapping_environment, {
      ALLOWED_ORIGINS        = join(",", var.allowed_origins)
      FORM_SUCCESS_URL       = var.form_success_url
      FORM_ERROR_URL         = var.form_error_url
      FORM_TRUSTED_PROXIES   = tostring(var.form_trusted_proxies)
      FORM_INTAKE            = var.form_intake
      FORM_CAPTCHA           = var.form_captcha.provider
      FORM_CAPTCHA_FAILURE   = var.form_captcha.provider == null ? null : var.form_captcha.failure
      FORM_CAPTCHA_ACTION    = var.form_captcha.action
      FORM_CAPTCHA_HOSTNAMES = length(var.form_captcha.hostnames) > 0 ? join(",", var.form_captcha.hostnames) : null
    })
    "update-items" = {
      FIELD_MAP                   = var.field_map
      UPDATE_ITEMS_MAX_BODY_BYTES = tostring(var.update_items_max_body_bytes)
    }
    "publish-live" = {
      PUBLISH_COLLECTION_IDS = join(",", local.publish_collection_ids)
      # publish-live accepts the scheduler's OIDC token only from this service account.
      PUBLISH_ALLOWED_INVOKERS     = google_service_account.scheduler.email
      PUBLISH_OIDC_AUDIENCE        = local.publish_live_audience
      PUBLISH_CUSTOM_DOMAINS       = length(var.publish_custom_domains) > 0 ? join(",", var.publish_custom_domains) : null
      PUBLISH_TO_WEBFLOW_SUBDOMAIN = tostring(var.publish_to_webflow_subdomain)
      PUBLISH_MAX_RETRY_SECONDS    = tostring(var.publish_max_retry_seconds)
      PUBLISH_MAX_RUN_SECONDS      = tostring(var.publish_max_run_seconds)
    }
    "upload-asset" = {
      UPLOAD_BUCKET             = local.ingestion_bucket_name
      UPLOAD_PREFIX             = var.upload_prefix
      INGEST_COLLECTION_ID      = var.ingest_collection_id
      INGEST_IMAGE_FIELD        = var.ingest_image_field
      UPLOAD_COLLECTION_IDS     = length(var.upload_collection_ids) > 0 ? join(",", var.upload_collection_ids) : null
      MAX_EVENT_AGE_SECONDS     = tostring(var.max_event_age_seconds)
      UPLOAD_ALLOWED_EXTENSIONS = local.upload_allowed_extensions
      IMAGE_MAX_INPUT_BYTES     = tostring(var.image_max_input_bytes)
      IMAGE_OUTPUT_FORMAT       = var.image_output_format
      IMAGE_MAX_LONG_EDGE       = tostring(var.image_max_long_edge)
      IMAGE_QUALITY_FLOOR       = tostring(var.image_quality_floor)
      IMAGE_MAX_PIXELS          = tostring(var.image_max_pixels)
      IMAGE_KEEP_TAGS           = length(var.image_keep_tags) > 0 ? join(",", var.image_keep_tags) : null
    }
    "drain-intake" = merge(local.item_mapping_environment, {
      INTAKE_BATCH_WINDOW_SECONDS = tostring(var.intake_batch_window_seconds)
      INTAKE_MAX_RUN_SECONDS      = tostring(var.intake_max_run_seconds)
    })
  }

  # Extra variables first, so that the module's own variables win on a clash; nulls are dropped.
  environment = {
    for name in local.function_names : name => {
      for key, value in merge(
        lookup(var.extra_environment, name, {}),
        local.common_environment,
        local.function_environment[name],
        {
          WEBFLOW_RATE_LIMIT_PER_MINUTE = tostring(local.instance_rate_limit[name])
          # One process per instance (so one rate limiter per instance, as the budget assumes),
          # with as many threads as the instance accepts concurrent requests.
          WORKERS = "1"
          THREADS = tostring(local.functions[name].concurrency)
        },
      ) : key => value if value != null
    }
  }
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]) : toset([])

  project = var.project_id
  service = each.value

  # Other workloads in the project may rely on these APIs.
  disable_on_destroy = false
}
