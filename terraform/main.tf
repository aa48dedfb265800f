# Shared names, per-function settings and the rate-limit budget. Resources are split by concern:
# storage.tf (buckets, source objects), secrets.tf, iam.tf (service accounts and bindings),
# functions.tf (the four functions and the storage trigger), scheduler.tf (publish schedule).

locals {
  function_names = ["create-items", "update-items", "publish-live", "upload-asset"]

  labels = merge(var.labels, {
    app        = "webflow-functions"
    managed-by = "terraform"
  })

  source_archive_dir    = coalesce(var.source_archive_dir, "${path.module}/../dist")
  ingestion_bucket_name = coalesce(var.ingestion_bucket_name, "${var.project_id}-${var.name_prefix}-uploads")
  source_bucket_name    = "${var.project_id}-${var.name_prefix}-sources"
  bucket_location       = upper(coalesce(var.bucket_location, var.region))

  # Defaults chosen so that the four functions together stay within the token's rate limit:
  # README.md ("Rate limit budget") has the arithmetic.
  function_defaults = {
    "create-items" = {
      entry_point      = "create_items"
      description      = "Forms, Webflow form webhooks and JSON calls become CMS items."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 600
      min_instances    = 0
      max_instances    = 2
      concurrency      = 4
      rate_limit_share = 4
      ingress          = "ALLOW_ALL"
    }
    "update-items" = {
      entry_point      = "update_items"
      description      = "Patch CMS items by id or slug."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 600
      min_instances    = 0
      max_instances    = 1
      concurrency      = 4
      rate_limit_share = 2
      ingress          = "ALLOW_ALL"
    }
    "publish-live" = {
      entry_point      = "publish_live"
      description      = "Publish pending CMS changes on a schedule."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 540
      min_instances    = 0
      max_instances    = 1
      concurrency      = 1
      rate_limit_share = 1
      # Cloud Scheduler in the same project counts as internal traffic.
      ingress = "ALLOW_INTERNAL_ONLY"
    }
    "upload-asset" = {
      entry_point      = "upload_asset"
      description      = "Cloud Storage uploads become Webflow assets attached to CMS items."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 300
      min_instances    = 0
      max_instances    = 2
      concurrency      = 2
      rate_limit_share = 3
      # Eventarc deliveries in the same project count as internal traffic.
      ingress = "ALLOW_INTERNAL_ONLY"
    }
  }

  functions = {
    for name, defaults in local.function_defaults : name => merge(defaults, {
      for key, value in try(var.function_settings[name], {}) : key => value if value != null
    })
  }

  # Rate-limit budget: each function gets a share of the token's limit, divided evenly between its
  # instances (the client paces per instance). Flooring keeps the sum at or under the limit.
  total_rate_limit_share = sum([for function in values(local.functions) : function.rate_limit_share])
  function_rate_budget = {
    for name, function in local.functions :
    name => floor(var.webflow_rate_limit_per_minute * function.rate_limit_share / local.total_rate_limit_share)
  }
  instance_rate_limit = {
    for name, function in local.functions :
    name => floor(local.function_rate_budget[name] / function.max_instances)
  }

  # Secret Manager secrets: environment variable name => secret ID. Values never pass through
  # Terraform: the secrets are created empty and versions are added with gcloud (README.md).
  secrets = {
    WEBFLOW_API_TOKEN      = "${var.name_prefix}-api-token"
    CREATE_ITEMS_API_KEYS  = "${var.name_prefix}-create-items-api-keys"
    WEBFLOW_WEBHOOK_SECRET = "${var.name_prefix}-webhook-secret"
  }

  # Which function reads which secret (each gets secretAccessor on exactly these).
  function_secrets = {
    "create-items" = ["WEBFLOW_API_TOKEN", "CREATE_ITEMS_API_KEYS", "WEBFLOW_WEBHOOK_SECRET"]
    "update-items" = ["WEBFLOW_API_TOKEN", "CREATE_ITEMS_API_KEYS"]
    "publish-live" = ["WEBFLOW_API_TOKEN", "CREATE_ITEMS_API_KEYS"]
    "upload-asset" = ["WEBFLOW_API_TOKEN"]
  }

  function_secret_pairs = merge([
    for name, secret_names in local.function_secrets : {
      for secret_name in secret_names : "${name}/${secret_name}" => {
        function = name
        secret   = secret_name
      }
    }
  ]...)

  publish_collection_ids = length(var.publish_collection_ids) > 0 ? var.publish_collection_ids : [var.webflow_collection_id]

  common_environment = {
    WEBFLOW_API_BASE_URL  = var.webflow_api_base_url
    WEBFLOW_SITE_ID       = var.webflow_site_id
    WEBFLOW_COLLECTION_ID = var.webflow_collection_id
    LOG_LEVEL             = var.log_level
    GOOGLE_CLOUD_PROJECT  = var.project_id
  }

  function_environment = {
    "create-items" = {
      UPLOAD_BUCKET    = local.ingestion_bucket_name
      UPLOAD_PREFIX    = var.upload_prefix
      ALLOWED_ORIGINS  = join(",", var.allowed_origins)
      FORM_SUCCESS_URL = var.form_success_url
      FORM_ERROR_URL   = var.form_error_url
      FIELD_MAP        = var.field_map
      CREATE_AS_DRAFT  = tostring(var.create_as_draft)
    }
    "update-items" = {
      FIELD_MAP = var.field_map
    }
    "publish-live" = {
      PUBLISH_COLLECTION_IDS = join(",", local.publish_collection_ids)
      # publish-live accepts the scheduler's OIDC token only from this service account.
      PUBLISH_ALLOWED_INVOKERS = google_service_account.scheduler.email
    }
    "upload-asset" = {
      UPLOAD_BUCKET         = local.ingestion_bucket_name
      UPLOAD_PREFIX         = var.upload_prefix
      INGEST_COLLECTION_ID  = var.ingest_collection_id
      INGEST_IMAGE_FIELD    = var.ingest_image_field
      MAX_EVENT_AGE_SECONDS = tostring(var.max_event_age_seconds)
    }
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
