# ---------------------------------------------------------------------------------------------------
# Project and naming
# ---------------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project ID that receives every resource of this module."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, the Cloud Scheduler job and (by default) the ingestion bucket, e.g. europe-west1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, secrets, buckets). Several deployments can share a project with different prefixes."
  type        = string
  default     = "webflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lower-case letters, digits or hyphens, starting with a letter (service account IDs are limited to 30 characters)."
  }
}

variable "labels" {
  description = "Labels added to every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the Google Cloud APIs the module needs. Turn off when a platform team manages project services."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------------
# Source bundles (built by deploy/package.py)
# ---------------------------------------------------------------------------------------------------

variable "source_archive_dir" {
  description = "Folder holding <function>.zip built by deploy/package.py. Null means ../dist relative to this module."
  type        = string
  default     = null
}

variable "create_build_service_account" {
  description = "Create a dedicated Cloud Build service account for the function builds (logs, image push and source read only) instead of the project's default build account."
  type        = bool
  default     = true
}

variable "build_service_account_roles" {
  description = "Project roles of the dedicated build service account. roles/run.builder is Google's role for Cloud Run functions builds; replace it with a finer list if your organisation requires."
  type        = list(string)
  default     = ["roles/run.builder"]

  validation {
    condition     = length(var.build_service_account_roles) > 0 && alltrue([for role in var.build_service_account_roles : can(regex("^(roles|projects/[^/]+/roles)/[A-Za-z0-9_.]+$", role))])
    error_message = "build_service_account_roles must be a non-empty list of roles such as roles/run.builder."
  }

  validation {
    condition     = !anytrue([for role in var.build_service_account_roles : contains(["roles/owner", "roles/editor"], role)])
    error_message = "build_service_account_roles must not hold basic roles (owner, editor)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Webflow
# ---------------------------------------------------------------------------------------------------

variable "webflow_api_base_url" {
  description = "WEBFLOW_API_BASE_URL: base URL of the Webflow Data API v2."
  type        = string
  default     = "https://api.webflow.com/v2"

  validation {
    condition     = can(regex("^https://[^\\s@/]+(/[^\\s]*)?$", var.webflow_api_base_url))
    error_message = "webflow_api_base_url must be an https URL without credentials (the token goes in the Secret Manager secret)."
  }
}

variable "webflow_site_id" {
  description = "WEBFLOW_SITE_ID: the Webflow site whose CMS and assets the functions manage."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9]+$", var.webflow_site_id))
    error_message = "webflow_site_id must be a Webflow site ID (letters and digits)."
  }
}

variable "webflow_collection_id" {
  description = "WEBFLOW_COLLECTION_ID: default collection of create-items and update-items (callers may name another)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9]+$", var.webflow_collection_id))
    error_message = "webflow_collection_id must be a Webflow collection ID (letters and digits)."
  }
}

variable "webflow_rate_limit_per_minute" {
  description = "The Webflow token's rate limit in requests per minute (60 on Starter/Basic, 120 on CMS/eCommerce/Business). It is split between the functions and their instances; see README.md."
  type        = number
  default     = 60

  validation {
    condition     = var.webflow_rate_limit_per_minute >= 1 && floor(var.webflow_rate_limit_per_minute) == var.webflow_rate_limit_per_minute
    error_message = "webflow_rate_limit_per_minute must be a positive integer."
  }
}

# ---------------------------------------------------------------------------------------------------
# Function behaviour (environment variables)
# ---------------------------------------------------------------------------------------------------

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "upload_prefix" {
  description = "UPLOAD_PREFIX: object prefix in the ingestion bucket that create-items writes form files under and upload-asset processes."
  type        = string
  default     = "uploads/"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]*$", var.upload_prefix)) && !startswith(var.upload_prefix, "/")
    error_message = "upload_prefix must be a relative object prefix (letters, digits, . _ - /), without a leading slash."
  }
}

variable "upload_allowed_extensions" {
  description = "UPLOAD_ALLOWED_EXTENSIONS: file extensions (without dots) that create-items takes in form files and upload-asset turns into assets; both get the same list. Empty means every type Webflow accepts, and HEIC, HEIF, TIFF and BMP (converted on the way)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.upload_allowed_extensions : contains(["png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "heic", "heif", "tif", "tiff", "bmp", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "csv", "odt", "ods", "odp"], lower(e))])
    error_message = "upload_allowed_extensions must list only extensions taken: png, jpg, jpeg, gif, svg, webp, avif, heic, heif, tif, tiff, bmp, pdf, doc, docx, xls, xlsx, ppt, pptx, txt, csv, odt, ods, odp."
  }
}

variable "allowed_origins" {
  description = "ALLOWED_ORIGINS: origins (scheme://host[:port]) whose browsers may post forms to create-items. Empty allows no cross-origin browser call."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.allowed_origins : can(regex("^https?://[^/\\s]+$", origin))])
    error_message = "allowed_origins must be origins such as https://www.example.com, without a path."
  }
}

variable "form_success_url" {
  description = "FORM_SUCCESS_URL: where a browser is redirected after a successful form post (a form's _redirect field wins). Null leaves it unset."
  type        = string
  default     = null

  validation {
    condition     = var.form_success_url == null || can(regex("^https?://", var.form_success_url))
    error_message = "form_success_url must be an http(s) URL."
  }
}

variable "form_error_url" {
  description = "FORM_ERROR_URL: where a browser is redirected when a form post fails. Null leaves it unset."
  type        = string
  default     = null

  validation {
    condition     = var.form_error_url == null || can(regex("^https?://", var.form_error_url))
    error_message = "form_error_url must be an http(s) URL."
  }
}

variable "field_map" {
  description = "FIELD_MAP as a JSON object string: form field name to CMS field slug, optionally nested per form name (see terraform.tfvars.example). \"{}\" uses field names as slugs."
  type        = string
  default     = "{}"

  validation {
    condition     = can(keys(jsondecode(var.field_map)))
    error_message = "field_map must be a JSON object such as {\"Full Name\": \"name\"} or {\"contact\": {\"Full Name\": \"name\"}}."
  }
}

variable "form_fields" {
  description = "FORM_FIELDS: the CMS field slugs that form posts and Webflow form webhooks may write (never slug). Empty uses the targets of field_map; one of the two must name a field, since create-items takes webhooks and its public forms write nothing else."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.form_fields) > 0 || length(flatten([for key, value in jsondecode(var.field_map) : can(keys(value)) ? keys(value) : [key]])) > 0
    error_message = "form_fields must name the fields form posts and webhooks may write (or field_map must map some), e.g. form_fields = [\"name\", \"email\", \"message\"]."
  }

  validation {
    condition     = alltrue([for slug in var.form_fields : can(regex("^[a-z0-9][a-z0-9_-]*$", slug)) && slug != "slug"])
    error_message = "form_fields must be CMS field slugs, and never slug (public input may not choose it)."
  }
}

variable "form_create_as_draft" {
  description = "FORM_CREATE_AS_DRAFT: items made from form posts and webhooks are drafts for an editor to review (true), or follow create_as_draft (false)."
  type        = bool
  default     = true
}

variable "form_trusted_proxies" {
  description = "FORM_TRUSTED_PROXIES: how many proxies append to X-Forwarded-For after the client's own entry, so that create-items' per-client form rate limit keys on the real client. 0 when callers reach the function's own URL; 1 behind an external Application Load Balancer with a serverless NEG (it appends the client and its own address; set create-items' ingress to ALLOW_INTERNAL_AND_GCLB so that it cannot be bypassed)."
  type        = number
  default     = 0

  validation {
    condition     = var.form_trusted_proxies >= 0 && var.form_trusted_proxies <= 10 && floor(var.form_trusted_proxies) == var.form_trusted_proxies
    error_message = "form_trusted_proxies must be a whole number between 0 and 10."
  }

  validation {
    # With the function's own URL open, a caller could write the entry the limit keys on.
    condition     = var.form_trusted_proxies == 0 || coalesce(try(var.function_settings["create-items"].ingress, null), "ALLOW_ALL") != "ALLOW_ALL"
    error_message = "form_trusted_proxies above 0 needs create-items' ingress closed to direct callers: set function_settings = { \"create-items\" = { ingress = \"ALLOW_INTERNAL_AND_GCLB\" } }."
  }
}

variable "upload_collection_ids" {
  description = "UPLOAD_COLLECTION_IDS: the collections upload-asset may attach files to. Empty means webflow_collection_id and ingest_collection_id."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.upload_collection_ids : can(regex("^[0-9a-f]{24}$", id))])
    error_message = "upload_collection_ids must be Webflow collection IDs (24 hexadecimal digits)."
  }
}

variable "create_as_draft" {
  description = "CREATE_AS_DRAFT: create items as drafts (true) or queued for the next publish (false)."
  type        = bool
  default     = false
}

variable "publish_collection_ids" {
  description = "PUBLISH_COLLECTION_IDS: collections whose pending items publish-live publishes. Empty means [webflow_collection_id]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.publish_collection_ids : can(regex("^[A-Za-z0-9]+$", id))])
    error_message = "publish_collection_ids must be Webflow collection IDs (letters and digits)."
  }
}

variable "update_items_max_body_bytes" {
  description = "UPDATE_ITEMS_MAX_BODY_BYTES: largest update-items request body accepted; larger ones are answered 413."
  type        = number
  default     = 10000000

  validation {
    condition     = var.update_items_max_body_bytes >= 1 && floor(var.update_items_max_body_bytes) == var.update_items_max_body_bytes
    error_message = "update_items_max_body_bytes must be a positive whole number of bytes."
  }
}

variable "publish_custom_domains" {
  description = "PUBLISH_CUSTOM_DOMAINS: Webflow custom domain IDs a site publish ({\"site\": true}) goes to. Empty publishes to the webflow.io subdomain only (see publish_to_webflow_subdomain)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.publish_custom_domains : can(regex("^[A-Za-z0-9]+$", id))])
    error_message = "publish_custom_domains must be Webflow custom domain IDs (letters and digits), not host names."
  }
}

variable "publish_to_webflow_subdomain" {
  description = "PUBLISH_TO_WEBFLOW_SUBDOMAIN: a site publish also goes to the site's webflow.io subdomain."
  type        = bool
  default     = true
}

variable "publish_max_retry_seconds" {
  description = "PUBLISH_MAX_RETRY_SECONDS: time publish-live spends retrying one Webflow request (429 and 5xx); a 429 asking for a longer wait stops the run, and the next scheduled run goes on."
  type        = number
  default     = 5

  validation {
    condition     = var.publish_max_retry_seconds >= 0 && var.publish_max_retry_seconds <= 60
    error_message = "publish_max_retry_seconds must be between 0 and 60."
  }
}

variable "publish_max_run_seconds" {
  description = "PUBLISH_MAX_RUN_SECONDS: how long one publish-live run may wait for the rate limit; it then stops cleanly and reports what remains. Must stay below publish-live's timeout_seconds (540 by default)."
  type        = number
  default     = 240

  validation {
    condition     = var.publish_max_run_seconds > 0 && var.publish_max_run_seconds <= 3600
    error_message = "publish_max_run_seconds must be more than 0 and at most 3600."
  }
}

variable "ingest_collection_id" {
  description = "INGEST_COLLECTION_ID: collection in which upload-asset creates an item for a file that names no item (a gallery). Null disables it."
  type        = string
  default     = null

  validation {
    condition     = var.ingest_collection_id == null || can(regex("^[A-Za-z0-9]+$", var.ingest_collection_id))
    error_message = "ingest_collection_id must be a Webflow collection ID (letters and digits)."
  }
}

variable "ingest_image_field" {
  description = "INGEST_IMAGE_FIELD: slug of the Image field that receives the asset of an ingested file. Null lets the function pick its default."
  type        = string
  default     = null

  validation {
    condition     = var.ingest_image_field == null || can(regex("^[a-z0-9][a-z0-9-]*$", var.ingest_image_field))
    error_message = "ingest_image_field must be a CMS field slug (lower-case letters, digits and hyphens)."
  }
}

variable "max_event_age_seconds" {
  description = "MAX_EVENT_AGE_SECONDS: upload-asset acknowledges (drops with a log line) storage events older than this instead of retrying them. The default matches Eventarc's own 24-hour retry window, so no upload is given up earlier than the platform would; lower it to give up sooner."
  type        = number
  default     = 86400

  validation {
    condition     = var.max_event_age_seconds >= 60 && var.max_event_age_seconds <= 86400
    error_message = "max_event_age_seconds must be between 60 and 86400 (Eventarc stops retrying after 24 hours)."
  }
}

variable "extra_environment" {
  description = "Extra plain environment variables per function, keyed by function name (create-items, update-items, publish-live, upload-asset). Variables managed by this module win on a clash; secrets are refused here."
  type        = map(map(string))
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.extra_environment) : contains(["create-items", "update-items", "publish-live", "upload-asset"], name)])
    error_message = "extra_environment keys must be function names: create-items, update-items, publish-live, upload-asset."
  }

  validation {
    condition = alltrue(flatten([
      for environment in values(var.extra_environment) : [
        for key in keys(environment) :
        !can(regex("(TOKEN|SECRET|API_KEYS|PASSWORD)", upper(key)))
      ]
    ]))
    error_message = "extra_environment must not carry secrets (names with TOKEN, SECRET, API_KEYS or PASSWORD): put them in Secret Manager."
  }

  validation {
    # Cloud Run sets these itself and refuses a deployment that sets them.
    condition = alltrue(flatten([
      for environment in values(var.extra_environment) : [
        for key in keys(environment) :
        !contains(["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"], upper(key))
      ]
    ]))
    error_message = "extra_environment must not set PORT, K_SERVICE, K_REVISION or K_CONFIGURATION: Cloud Run reserves them."
  }
}

# ---------------------------------------------------------------------------------------------------
# Scaling and runtime
# ---------------------------------------------------------------------------------------------------

variable "function_settings" {
  description = <<-EOT
    Per-function overrides keyed by function name. Unset attributes keep the module's defaults (see
    README.md for them and for the rate-limit arithmetic):
    memory (e.g. "512Mi"), cpu (e.g. "1"; concurrency above 1 needs at least 1), timeout_seconds,
    min_instances, max_instances, concurrency (requests per instance), rate_limit_share (weight of the
    function in the token's budget), ingress (ALLOW_ALL, ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB).
  EOT
  type = map(object({
    memory           = optional(string)
    cpu              = optional(string)
    timeout_seconds  = optional(number)
    min_instances    = optional(number)
    max_instances    = optional(number)
    concurrency      = optional(number)
    rate_limit_share = optional(number)
    ingress          = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.function_settings) : contains(["create-items", "update-items", "publish-live", "upload-asset"], name)])
    error_message = "function_settings keys must be function names: create-items, update-items, publish-live, upload-asset."
  }

  validation {
    # HCL evaluates both sides of || and &&, so unset (null) attributes are guarded with try() or a
    # conditional rather than by the null check alone.
    condition = alltrue([
      for settings in values(var.function_settings) :
      (settings.memory == null || can(regex("^[0-9]+(Mi|Gi)$", settings.memory))) &&
      (settings.cpu == null || try(tonumber(settings.cpu) > 0, false)) &&
      alltrue([
        for count in [settings.timeout_seconds, settings.min_instances, settings.max_instances, settings.concurrency] :
        count == null || try(floor(count) == count, false)
      ]) &&
      (settings.timeout_seconds == null || try(settings.timeout_seconds >= 1 && settings.timeout_seconds <= 3600, false)) &&
      (settings.min_instances == null || try(settings.min_instances >= 0, false)) &&
      (settings.max_instances == null || try(settings.max_instances >= 1, false)) &&
      (settings.concurrency == null || try(settings.concurrency >= 1 && settings.concurrency <= 1000, false)) &&
      (settings.rate_limit_share == null || try(settings.rate_limit_share > 0, false)) &&
      (settings.ingress == null ? true : contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], settings.ingress))
    ])
    error_message = "function_settings: memory like 512Mi, cpu a number above 0, whole numbers for timeout_seconds 1-3600, min_instances >= 0, max_instances >= 1 and concurrency 1-1000, rate_limit_share > 0, ingress ALLOW_ALL|ALLOW_INTERNAL_ONLY|ALLOW_INTERNAL_AND_GCLB."
  }
}

# ---------------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------------

variable "enable_public_form_posts" {
  description = "Let anyone on the internet call create-items (allUsers run.invoker), needed for browser form posts, Webflow form webhooks and API-key callers without a Google identity. The function still checks API keys, webhook signatures, origins and its rate limit."
  type        = bool
  default     = false
}

variable "invoker_members" {
  description = "Extra principals allowed to call a private function (run.invoker), keyed by function name, e.g. {\"update-items\" = [\"serviceAccount:ci@my-project.iam.gserviceaccount.com\"]}."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.invoker_members) : contains(["create-items", "update-items", "publish-live", "upload-asset"], name)])
    error_message = "invoker_members keys must be function names: create-items, update-items, publish-live, upload-asset."
  }

  validation {
    condition = alltrue(flatten([
      for members in values(var.invoker_members) : [
        for member in members : can(regex("^(user|serviceAccount|group|domain|principal|principalSet):", member))
      ]
    ]))
    error_message = "invoker_members must be IAM principals (user:, serviceAccount:, group:, domain:, principal:, principalSet:); allUsers is reserved to enable_public_form_posts."
  }
}

# ---------------------------------------------------------------------------------------------------
# Ingestion bucket
# ---------------------------------------------------------------------------------------------------

variable "ingestion_bucket_name" {
  description = "Name of the ingestion bucket (UPLOAD_BUCKET). Null means <project_id>-<name_prefix>-uploads."
  type        = string
  default     = null

  validation {
    condition     = var.ingestion_bucket_name == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.ingestion_bucket_name))
    error_message = "ingestion_bucket_name must be a valid bucket name: 3-63 lower-case letters, digits, dots, hyphens or underscores."
  }
}

variable "bucket_location" {
  description = "Location of the ingestion bucket. Null means the functions' region (the storage trigger must be in the bucket's location)."
  type        = string
  default     = null
}

variable "upload_retention_days" {
  description = "Uploaded objects are deleted this many days after creation (they are only inputs: the asset lives in Webflow)."
  type        = number
  default     = 30

  validation {
    condition     = var.upload_retention_days >= 1 && floor(var.upload_retention_days) == var.upload_retention_days
    error_message = "upload_retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Overwritten or deleted object versions are kept this many days for recovery, then deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy_buckets" {
  description = "Allow terraform destroy to delete the buckets with their objects. Keep false in production."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------------------

variable "publish_schedule" {
  description = "Cron schedule of the Cloud Scheduler job that calls publish-live with {\"pending\": true}."
  type        = string
  default     = "*/15 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.publish_schedule))) == 5
    error_message = "publish_schedule must be a five-field cron expression with single spaces between the fields, e.g. */15 * * * *."
  }
}

variable "publish_time_zone" {
  description = "Time zone of publish_schedule (tz database name)."
  type        = string
  default     = "Etc/UTC"
}

variable "publish_schedule_paused" {
  description = "Create the publish schedule paused."
  type        = bool
  default     = false
}

variable "form_intake" {
  description = "FORM_INTAKE: queue (form posts and webhooks are kept in the intake bucket and answered at once; drain-intake writes them in bulk) or sync (each written to Webflow before it is answered)."
  type        = string
  default     = "queue"

  validation {
    condition     = contains(["queue", "sync"], var.form_intake)
    error_message = "form_intake must be queue or sync."
  }
}

variable "intake_bucket_name" {
  description = "Name of the intake queue's bucket (INTAKE_BUCKET). Null means <project_id>-<name_prefix>-intake."
  type        = string
  default     = null

  validation {
    condition     = var.intake_bucket_name == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.intake_bucket_name))
    error_message = "intake_bucket_name must be a valid bucket name: 3-63 lower-case letters, digits, dots, hyphens or underscores."
  }
}

variable "intake_retention_days" {
  description = "Written submissions (intake/done/) are kept this many days for audit, then deleted. Failed ones are kept until replayed."
  type        = number
  default     = 30

  validation {
    condition     = var.intake_retention_days >= 1 && floor(var.intake_retention_days) == var.intake_retention_days
    error_message = "intake_retention_days must be a whole number of days, at least 1."
  }
}

variable "form_captcha" {
  description = "Spam protection of public form posts (docs/spam.md): the challenge provider whose widget the forms carry (turnstile, hcaptcha or recaptcha), what a failed or unreachable challenge does (reject: 403/503; quarantine: kept in the intake's spam/ prefix), the hostnames a token must have been solved on (default: allowed_origins' hosts) and the action it must carry. With a provider, the secret <prefix>-form-captcha-secret is created for its secret key: add a version before the functions deploy."
  type = object({
    provider  = optional(string)
    failure   = optional(string, "reject")
    hostnames = optional(list(string), [])
    action    = optional(string)
  })
  default = {}

  validation {
    # coalesce: Terraform's || does not short-circuit, and contains() refuses a null.
    condition     = contains(["turnstile", "hcaptcha", "recaptcha"], coalesce(var.form_captcha.provider, "turnstile"))
    error_message = "form_captcha.provider must be turnstile, hcaptcha or recaptcha."
  }

  validation {
    condition     = contains(["reject", "quarantine"], var.form_captcha.failure)
    error_message = "form_captcha.failure must be reject or quarantine."
  }
}

variable "spam_retention_days" {
  description = "Posts judged as spam (intake/spam/) are kept this many days for review and release, then deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.spam_retention_days >= 1 && floor(var.spam_retention_days) == var.spam_retention_days
    error_message = "spam_retention_days must be a whole number of days, at least 1."
  }
}

variable "intake_sweep_schedule" {
  description = "Cron schedule (UTC) of the Cloud Scheduler job that sweeps the intake queue."
  type        = string
  default     = "* * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.intake_sweep_schedule))) == 5
    error_message = "intake_sweep_schedule must be a five-field cron expression, e.g. * * * * *."
  }
}

variable "intake_batch_window_seconds" {
  description = "INTAKE_BATCH_WINDOW_SECONDS: a partial batch waits until its oldest submission is this old, so that a burst goes in few requests."
  type        = number
  default     = 5

  validation {
    condition     = var.intake_batch_window_seconds >= 0 && var.intake_batch_window_seconds <= 60
    error_message = "intake_batch_window_seconds must be between 0 and 60."
  }
}

variable "intake_max_run_seconds" {
  description = "INTAKE_MAX_RUN_SECONDS: one drain run's deadline; what remains is taken by the next event or sweep."
  type        = number
  default     = 50

  validation {
    condition     = var.intake_max_run_seconds > 0
    error_message = "intake_max_run_seconds must be positive."
  }
}

variable "image_output_format" {
  description = "IMAGE_OUTPUT_FORMAT: what HEIC, HEIF, TIFF and BMP uploads (and re-encoded photos) become: jpeg or webp."
  type        = string
  default     = "jpeg"

  validation {
    condition     = contains(["jpeg", "webp"], var.image_output_format)
    error_message = "image_output_format must be jpeg or webp."
  }
}

variable "image_max_long_edge" {
  description = "IMAGE_MAX_LONG_EDGE: images longer than this many pixels on either side are downscaled before upload."
  type        = number
  default     = 3200

  validation {
    condition     = var.image_max_long_edge >= 16 && var.image_max_long_edge <= 20000 && floor(var.image_max_long_edge) == var.image_max_long_edge
    error_message = "image_max_long_edge must be a whole number of pixels between 16 and 20000."
  }
}

variable "image_quality_floor" {
  description = "IMAGE_QUALITY_FLOOR: the lowest JPEG/WebP quality the search for the highest quality under 4 MB may use."
  type        = number
  default     = 60

  validation {
    condition     = var.image_quality_floor >= 1 && var.image_quality_floor <= 92 && floor(var.image_quality_floor) == var.image_quality_floor
    error_message = "image_quality_floor must be a whole number between 1 and 92."
  }
}

variable "image_max_pixels" {
  description = "IMAGE_MAX_PIXELS: images with more pixels are refused from their header, before decoding (decompression bombs). Peak memory grows with it: about 4 bytes per pixel."
  type        = number
  default     = 50000000

  validation {
    condition     = var.image_max_pixels >= 1000000 && var.image_max_pixels <= 500000000
    error_message = "image_max_pixels must be between 1000000 and 500000000."
  }
}

variable "image_keep_tags" {
  description = "IMAGE_KEEP_TAGS: EXIF tags kept when metadata is stripped (Artist, Copyright, ImageDescription, Make, Model, Software, DateTime); GPS and everything else always go."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.image_keep_tags : contains(["Artist", "Copyright", "ImageDescription", "Make", "Model", "Software", "DateTime"], t)])
    error_message = "image_keep_tags must list only Artist, Copyright, ImageDescription, Make, Model, Software or DateTime."
  }
}

variable "image_max_input_bytes" {
  description = "IMAGE_MAX_INPUT_BYTES: the most a raster image may weigh in a form post or a bucket drop; upload-asset fits it to Webflow's 4 MB."
  type        = number
  default     = 20971520

  validation {
    condition     = var.image_max_input_bytes >= 4194304 && var.image_max_input_bytes <= 104857600
    error_message = "image_max_input_bytes must be between 4194304 (Webflow's limit) and 104857600."
  }
}
