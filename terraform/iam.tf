# One service account per function, plus one for the storage trigger, one for the scheduler and one
# for the builds; each holds only the roles listed here.

resource "google_service_account" "function" {
  for_each = toset(local.function_names)

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "webflow-functions ${each.key} runtime"
  description  = "Runtime identity of the ${each.key} function."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-trigger"
  display_name = "webflow-functions storage trigger"
  description  = "Identity Eventarc uses to deliver storage events to upload-asset."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "webflow-functions schedules"
  description  = "Identity of the Cloud Scheduler jobs' OIDC tokens (publish-live, the intake sweep)."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  count = var.create_build_service_account ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "webflow-functions builds"
  description  = "Cloud Build identity for building the function images."

  depends_on = [google_project_service.this]
}

# ---------------------------------------------------------------------------------------------------
# Ingestion bucket: only the two functions that touch it, on that bucket only.
# ---------------------------------------------------------------------------------------------------

# create-items writes form file inputs; it never reads, lists or deletes.
resource "google_storage_bucket_iam_member" "create_items_object_creator" {
  bucket = google_storage_bucket.ingestion.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["create-items"].member
}

# upload-asset reads an object (metadata and content) and merges its ledger into the object's
# metadata. roles/storage.objectUser would also allow creating, listing and deleting objects, so a
# custom role holds exactly get + update.
resource "google_project_iam_custom_role" "upload_asset_object_access" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_upload_asset_objects"
  title       = "webflow-functions upload-asset object access"
  description = "Read objects and update their metadata (the upload ledger); nothing else."
  permissions = [
    "storage.objects.get",
    "storage.objects.update",
  ]

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_iam_member" "upload_asset_object_access" {
  bucket = google_storage_bucket.ingestion.name
  role   = google_project_iam_custom_role.upload_asset_object_access.id
  member = google_service_account.function["upload-asset"].member
}

# drain-intake hands a queued form's files over once its item exists: it creates objects in the
# ingestion bucket (create-if-absent), nothing else there.
resource "google_storage_bucket_iam_member" "drain_intake_object_creator" {
  bucket = google_storage_bucket.ingestion.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["drain-intake"].member
}

# ---------------------------------------------------------------------------------------------------
# Intake bucket: create-items writes submissions, drain-intake works the queue.
# ---------------------------------------------------------------------------------------------------

# create-items queues a submission and its files create-if-absent; it never deletes.
resource "google_storage_bucket_iam_member" "create_items_intake_creator" {
  bucket = google_storage_bucket.intake.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["create-items"].member
}

# create-items also lists the pending set (INTAKE_MAX_PENDING, INTAKE_MAX_PENDING_BYTES) and reads
# a queued call back to compare a reused Idempotency-Key's body: get + list, nothing more.
resource "google_project_iam_custom_role" "create_items_intake_admission" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_intake_admission"
  title       = "webflow-functions create-items intake admission"
  description = "List the intake queue and read a queued submission; nothing else."
  permissions = [
    "storage.objects.get",
    "storage.objects.list",
  ]

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_iam_member" "create_items_intake_admission" {
  bucket = google_storage_bucket.intake.name
  role   = google_project_iam_custom_role.create_items_intake_admission.id
  member = google_service_account.function["create-items"].member
}

# drain-intake lists, reads, claims, moves (create + delete) and replays submissions: object
# access on this bucket only (roles/storage.objectUser: objects, not the bucket or its IAM).
resource "google_storage_bucket_iam_member" "drain_intake_object_user" {
  bucket = google_storage_bucket.intake.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["drain-intake"].member
}

# ---------------------------------------------------------------------------------------------------
# Secrets: accessor per secret, per function that reads it.
# ---------------------------------------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "function_accessor" {
  for_each = local.function_secret_pairs

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

# ---------------------------------------------------------------------------------------------------
# Storage trigger (Eventarc) plumbing.
# ---------------------------------------------------------------------------------------------------

# Cloud Storage publishes its notifications to Pub/Sub as its own service agent.
data "google_storage_project_service_account" "this" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_service_agent_pubsub_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.this.member
}

# Eventarc requires its receiver role at project level; it allows receiving events, nothing else.
resource "google_project_iam_member" "trigger_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger.member
}

# ---------------------------------------------------------------------------------------------------
# Builds: the curated builder role, and read access to the source bundles.
# ---------------------------------------------------------------------------------------------------

# roles/run.builder is the role Google maintains for build service accounts of Cloud Run functions
# (write build logs, push the image to the gcf-artifacts repository, read the staged source). That
# repository and the staging bucket are created by Cloud Functions on first deploy, so they cannot be
# scoped lower beforehand.
resource "google_project_iam_member" "build" {
  for_each = var.create_build_service_account ? toset(var.build_service_account_roles) : toset([])

  project = var.project_id
  role    = each.value
  member  = google_service_account.build[0].member
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  count = var.create_build_service_account ? 1 : 0

  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build[0].member
}

# ---------------------------------------------------------------------------------------------------
# Invokers (run.invoker on each function's Cloud Run service). Private unless listed here.
# ---------------------------------------------------------------------------------------------------

resource "google_cloud_run_service_iam_member" "public_form_posts" {
  #checkov:skip=CKV_GCP_102:Public only when var.enable_public_form_posts is true (off by default): browsers and Webflow webhooks carry no Google identity; create-items then checks API keys, webhook signatures, origins and a per-client rate limit.
  count = var.enable_public_form_posts ? 1 : 0

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this["create-items"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "trigger_invokes_upload_asset" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this["upload-asset"].name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "trigger_invokes_drain_intake" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this["drain-intake"].name
  role     = "roles/run.invoker"
  member   = google_service_account.trigger.member
}

resource "google_cloud_run_service_iam_member" "scheduler_invokes_drain_intake" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this["drain-intake"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_run_service_iam_member" "scheduler_invokes_publish_live" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this["publish-live"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = merge([
    for name, members in var.invoker_members : {
      for member in members : "${name}/${member}" => { function = name, member = member }
    }
  ]...)

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.this[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}
