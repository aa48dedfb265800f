"""The Terraform module: formatting, declared resources, IAM, triggers, and no secret values."""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.tfmodule import (
    TERRAFORM_DIR,
    Module,
    block,
    dynamic,
    load_module,
    terraform_binary,
)

FUNCTIONS = ["create-items", "update-items", "publish-live", "upload-asset", "drain-intake"]
SECRET_ENV_NAMES = {
    "WEBFLOW_API_TOKEN",
    "CREATE_ITEMS_API_KEYS",
    "UPDATE_ITEMS_API_KEYS",
    "PUBLISH_API_KEYS",
    "WEBFLOW_WEBHOOK_SECRET",
    "INTAKE_API_KEYS",
    "SYNC_API_KEYS",
}
PLAIN_ENV_NAMES = {
    "WEBFLOW_API_BASE_URL",
    "WEBFLOW_SITE_ID",
    "WEBFLOW_COLLECTION_ID",
    "WEBFLOW_RATE_LIMIT_PER_MINUTE",
    "UPLOAD_BUCKET",
    "UPLOAD_PREFIX",
    "ALLOWED_ORIGINS",
    "FORM_SUCCESS_URL",
    "FORM_ERROR_URL",
    "FIELD_MAP",
    "FORM_FIELDS",
    "FORM_CREATE_AS_DRAFT",
    "UPLOAD_COLLECTION_IDS",
    "CREATE_AS_DRAFT",
    "FORM_TRUSTED_PROXIES",
    "PUBLISH_COLLECTION_IDS",
    "UPDATE_ITEMS_MAX_BODY_BYTES",
    "PUBLISH_CUSTOM_DOMAINS",
    "PUBLISH_TO_WEBFLOW_SUBDOMAIN",
    "PUBLISH_MAX_RETRY_SECONDS",
    "PUBLISH_MAX_RUN_SECONDS",
    "PUBLISH_OIDC_AUDIENCE",
    "INGEST_COLLECTION_ID",
    "INGEST_IMAGE_FIELD",
    "MAX_EVENT_AGE_SECONDS",
    "LOG_LEVEL",
    "FORM_INTAKE",
    "INTAKE_BUCKET",
    "INTAKE_PREFIX",
    "INTAKE_BATCH_WINDOW_SECONDS",
    "INTAKE_MAX_RUN_SECONDS",
    "IMAGE_MAX_INPUT_BYTES",
    "IMAGE_OUTPUT_FORMAT",
    "IMAGE_MAX_LONG_EDGE",
    "IMAGE_QUALITY_FLOOR",
    "IMAGE_MAX_PIXELS",
    "IMAGE_KEEP_TAGS",
}


@pytest.fixture(scope="module")
def module() -> Module:
    return load_module()


def _function(module: Module) -> dict:
    return module.resource("google_cloudfunctions2_function", "this")


# --- formatting and layout ----------------------------------------------------------------------


def test_terraform_fmt_is_clean(tmp_path: Path) -> None:
    terraform = terraform_binary()
    config = tmp_path / "terraformrc"
    config.write_text("")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(TERRAFORM_DIR)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "TF_CLI_CONFIG_FILE": str(config)},
    )
    assert result.returncode == 0, f"not formatted:\n{result.stdout}{result.stderr}"


def test_module_has_the_standard_layout() -> None:
    for name in (
        "versions.tf",
        "variables.tf",
        "main.tf",
        "outputs.tf",
        "terraform.tfvars.example",
        "README.md",
    ):
        assert (TERRAFORM_DIR / name).is_file(), name


def test_terraform_and_provider_versions_are_pinned(module: Module) -> None:
    (settings,) = module.terraform
    assert settings["required_version"] == ">= 1.9"
    google = settings["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> 6\.\d+", google["version"])


def test_the_extensions_terraform_accepts_are_the_ones_the_functions_accept(module: Module) -> None:
    from shared.core.filetypes import FILE_TYPES

    [validation] = module.variables["upload_allowed_extensions"]["validation"]
    listed = re.search(r"contains\(\[([^\]]*)\]", validation["condition"])
    assert listed is not None
    assert re.findall(r'"([a-z]+)"', listed.group(1)) == list(FILE_TYPES)


def test_every_variable_is_typed_and_described(module: Module) -> None:
    assert module.variables
    for name, body in module.variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert body.get("type") != "any", f"variable {name} is untyped"
        assert len(body.get("description", "")) > 10, f"variable {name} has no description"


def test_variables_with_a_format_are_validated(module: Module) -> None:
    for name in (
        "project_id",
        "region",
        "name_prefix",
        "webflow_site_id",
        "webflow_collection_id",
        "webflow_rate_limit_per_minute",
        "webflow_api_base_url",
        "log_level",
        "allowed_origins",
        "field_map",
        "function_settings",
        "invoker_members",
        "extra_environment",
        "max_event_age_seconds",
        "publish_schedule",
        "form_trusted_proxies",
        "upload_allowed_extensions",
    ):
        assert module.variables[name].get("validation"), f"variable {name} is not validated"


def test_function_settings_use_optional_attributes(module: Module) -> None:
    type_expression = module.variables["function_settings"]["type"]
    for attribute in ("memory", "timeout_seconds", "max_instances", "concurrency"):
        assert re.search(rf"{attribute}\s*=\s*optional\(", type_expression), attribute


# --- functions ----------------------------------------------------------------------------------


def test_five_functions_on_python312_with_their_entry_points(module: Module) -> None:
    function = _function(module)
    assert function["for_each"] == "${local.functions}"
    build = block(function, "build_config")
    assert build["runtime"] == "python312"
    assert build["entry_point"] == "${each.value.entry_point}"
    storage_source = block(block(build, "source"), "storage_source")
    assert storage_source["object"] == "${google_storage_bucket_object.source[each.key].name}"
    defaults = module.locals["function_defaults"]
    assert sorted(defaults) == sorted(FUNCTIONS)
    assert {name: d["entry_point"] for name, d in defaults.items()} == {
        "create-items": "create_items",
        "update-items": "update_items",
        "publish-live": "publish_live",
        "upload-asset": "upload_asset",
        "drain-intake": "drain_intake",
    }


def test_scaling_settings_come_from_variables(module: Module) -> None:
    service = block(_function(module), "service_config")
    assert service["available_memory"] == "${each.value.memory}"
    assert service["timeout_seconds"] == "${each.value.timeout_seconds}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert "var.function_settings" in module.locals["functions"]


def test_every_documented_environment_variable_is_wired(module: Module) -> None:
    names = set(module.locals["common_environment"]) | set(
        module.locals["item_mapping_environment"]
    )
    for environment in module.locals["function_environment"].values():
        if isinstance(environment, str):  # merge(local.item_mapping_environment, {...})
            names |= set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", environment))
        else:
            names |= set(environment)
    names |= set(re.findall(r"\b([A-Z][A-Z_]+)\s*=", module.locals["environment"]))
    assert names >= PLAIN_ENV_NAMES
    assert not SECRET_ENV_NAMES & names, "secrets must not be plain environment variables"
    assert "var.extra_environment" in module.locals["environment"]
    readme = (TERRAFORM_DIR / "README.md").read_text()
    for name in PLAIN_ENV_NAMES | SECRET_ENV_NAMES:
        assert name in readme, f"{name} is not documented in terraform/README.md"


def test_secrets_reach_functions_only_through_secret_manager(module: Module) -> None:
    service = block(_function(module), "service_config")
    secret_env = dynamic(service, "secret_environment_variables")
    assert secret_env["for_each"] == "${toset(local.function_secret_names[each.key])}"
    content = secret_env["content"][0]
    assert content["version"] == "latest"
    assert "google_secret_manager_secret.this" in content["secret"]
    assert set(module.locals["secrets"]) == SECRET_ENV_NAMES
    assert module.locals["function_secrets"] == {
        "create-items": [
            "WEBFLOW_API_TOKEN",
            "CREATE_ITEMS_API_KEYS",
            "WEBFLOW_WEBHOOK_SECRET",
            "SYNC_API_KEYS",
        ],
        "update-items": ["WEBFLOW_API_TOKEN", "UPDATE_ITEMS_API_KEYS"],
        "publish-live": ["WEBFLOW_API_TOKEN", "PUBLISH_API_KEYS"],
        "upload-asset": ["WEBFLOW_API_TOKEN"],
        "drain-intake": ["WEBFLOW_API_TOKEN", "INTAKE_API_KEYS"],
    }


def test_storage_triggers_on_object_finalize_upload_asset_retried_drain_intake_swept(
    module: Module,
) -> None:
    trigger = dynamic(_function(module), "event_trigger")
    assert "local.event_triggers" in trigger["for_each"]
    content = trigger["content"][0]
    assert content["event_type"] == "google.cloud.storage.object.v1.finalized"
    assert content["retry_policy"] == "${event_trigger.value.retry_policy}"
    assert content["service_account_email"] == "${google_service_account.trigger.email}"
    assert content["event_filters"] == [
        {"attribute": "bucket", "value": "${event_trigger.value.bucket}"}
    ]
    triggers = module.locals["event_triggers"]
    assert set(triggers) == {"upload-asset", "drain-intake"}
    assert triggers["upload-asset"]["bucket"] == "${local.ingestion_bucket_name}"
    assert triggers["upload-asset"]["retry_policy"] == "RETRY_POLICY_RETRY"
    assert triggers["drain-intake"]["bucket"] == "${local.intake_bucket_name}"
    # A failed drain leaves its submissions pending; the sweep takes them, not a retry storm.
    assert triggers["drain-intake"]["retry_policy"] == "RETRY_POLICY_DO_NOT_RETRY"
    sweep = module.resource("google_cloud_scheduler_job", "intake_sweep")
    assert sweep["schedule"] == "${var.intake_sweep_schedule}"
    assert module.variables["intake_sweep_schedule"]["default"] == "* * * * *"
    target = block(sweep, "http_target")
    assert target["uri"] == '${google_cloudfunctions2_function.this["drain-intake"].url}'
    assert block(target, "oidc_token")["service_account_email"] == (
        "${google_service_account.scheduler.email}"
    )


def test_the_intake_bucket_keeps_done_submissions_for_the_retention_and_failed_ones(
    module: Module,
) -> None:
    bucket = module.resource("google_storage_bucket", "intake")
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["uniform_bucket_level_access"] is True
    rules = {
        tuple(block(rule, "condition").get("matches_prefix", [])): block(rule, "condition")
        for rule in bucket["lifecycle_rule"]
    }
    assert rules[("${local.intake_prefix}/done/",)]["age"] == "${var.intake_retention_days}"
    assert rules[("${local.intake_prefix}/claims/",)]["age"] == 1
    assert not any("failed" in "".join(prefixes) for prefixes in rules)
    assert not any("pending" in "".join(prefixes) for prefixes in rules)


def test_default_scaling_keeps_the_functions_within_the_token_rate_limit(module: Module) -> None:
    defaults = module.locals["function_defaults"]
    total_share = sum(d["rate_limit_share"] for d in defaults.values())
    for token_limit in (60, 120):
        used = 0
        for d in defaults.values():
            budget = math.floor(token_limit * d["rate_limit_share"] / total_share)
            per_instance = math.floor(budget / d["max_instances"])
            assert per_instance >= 1
            used += per_instance * d["max_instances"]
        assert used <= token_limit
    assert "floor(" in module.locals["instance_rate_limit"]
    preconditions = block(_function(module), "lifecycle")["precondition"]
    assert any("local.instance_rate_limit[each.key] >= 1" in p["condition"] for p in preconditions)


def test_a_plan_refuses_more_warm_instances_than_the_maximum(module: Module) -> None:
    preconditions = block(_function(module), "lifecycle")["precondition"]
    [bound] = [p for p in preconditions if "each.value.min_instances" in p["condition"]]
    assert "<= each.value.max_instances" in bound["condition"]
    defaults = module.locals["function_defaults"].values()
    assert all(d["min_instances"] <= d["max_instances"] for d in defaults)


def test_a_publish_run_stops_by_itself_before_the_function_times_out(module: Module) -> None:
    preconditions = block(_function(module), "lifecycle")["precondition"]
    [fits] = [p for p in preconditions if "var.publish_max_run_seconds" in p["condition"]]
    assert "each.value.timeout_seconds" in fits["condition"]
    assert (
        module.variables["publish_max_run_seconds"]["default"] + 60
        <= (module.locals["function_defaults"]["publish-live"]["timeout_seconds"])
    )


def test_concurrency_above_one_has_a_full_cpu(module: Module) -> None:
    concurrent = {
        name: d for name, d in module.locals["function_defaults"].items() if d["concurrency"] > 1
    }
    # Cloud Run refuses concurrency above 1 with less than a whole CPU; some default uses it.
    assert concurrent, "no function has concurrency above 1: the rule below checks nothing"
    for name, d in concurrent.items():
        assert float(d["cpu"]) >= 1, name


# --- storage ------------------------------------------------------------------------------------


def test_ingestion_bucket_is_private_versioned_and_expires_objects(module: Module) -> None:
    bucket = module.resource("google_storage_bucket", "ingestion")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert block(bucket, "versioning")["enabled"] is True
    actions = [block(rule, "action")["type"] for rule in bucket["lifecycle_rule"]]
    assert "Delete" in actions
    ages = [block(rule, "condition").get("age") for rule in bucket["lifecycle_rule"]]
    assert "${var.upload_retention_days}" in ages


def test_source_bundles_are_uploaded_to_their_own_bucket(module: Module) -> None:
    bucket = module.resource("google_storage_bucket", "sources")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    source = module.resource("google_storage_bucket_object", "source")
    assert source["bucket"] == "${google_storage_bucket.sources.name}"
    assert "filesha256(" in source["name"]
    assert source["source"].endswith(".zip")


# --- IAM ----------------------------------------------------------------------------------------


def test_one_service_account_per_function_plus_trigger_and_scheduler(module: Module) -> None:
    accounts = module.resources_of("google_service_account")
    assert accounts["function"]["for_each"] == "${toset(local.function_names)}"
    assert module.locals["function_names"] == FUNCTIONS
    assert {"trigger", "scheduler"} <= set(accounts)


def test_bucket_access_only_for_the_functions_that_touch_each_bucket(module: Module) -> None:
    bindings = module.resources_of("google_storage_bucket_iam_member")
    on_ingestion = {
        name: b
        for name, b in bindings.items()
        if b["bucket"] == "${google_storage_bucket.ingestion.name}"
    }
    assert set(on_ingestion) == {
        "create_items_object_creator",
        "upload_asset_object_access",
        "drain_intake_object_creator",
    }
    handover = on_ingestion["drain_intake_object_creator"]
    assert handover["role"] == "roles/storage.objectCreator"
    assert handover["member"] == '${google_service_account.function["drain-intake"].member}'
    on_intake = {
        name: (b["role"], b["member"])
        for name, b in bindings.items()
        if b["bucket"] == "${google_storage_bucket.intake.name}"
    }
    assert on_intake == {
        "create_items_intake_creator": (
            "roles/storage.objectCreator",
            '${google_service_account.function["create-items"].member}',
        ),
        "create_items_intake_admission": (
            "${google_project_iam_custom_role.create_items_intake_admission.id}",
            '${google_service_account.function["create-items"].member}',
        ),
        "drain_intake_object_user": (
            "roles/storage.objectUser",
            '${google_service_account.function["drain-intake"].member}',
        ),
    }
    creator = on_ingestion["create_items_object_creator"]
    assert creator["role"] == "roles/storage.objectCreator"
    assert creator["member"] == '${google_service_account.function["create-items"].member}'
    reader = on_ingestion["upload_asset_object_access"]
    assert reader["member"] == '${google_service_account.function["upload-asset"].member}'
    role = module.resource("google_project_iam_custom_role", "upload_asset_object_access")
    assert sorted(role["permissions"]) == ["storage.objects.get", "storage.objects.update"]
    admission = module.resource("google_project_iam_custom_role", "create_items_intake_admission")
    assert sorted(admission["permissions"]) == ["storage.objects.get", "storage.objects.list"]


def test_build_account_holds_no_basic_role(module: Module) -> None:
    build = module.resource("google_project_iam_member", "build")
    assert build["member"] == "${google_service_account.build[0].member}"
    assert module.variables["build_service_account_roles"]["default"] == ["roles/run.builder"]
    for body in module.resources_of("google_project_iam_member").values():
        assert body["role"] not in ("roles/owner", "roles/editor", "roles/viewer")


def test_secret_accessor_per_secret_per_function(module: Module) -> None:
    accessor = module.resource("google_secret_manager_secret_iam_member", "function_accessor")
    assert accessor["for_each"] == "${local.function_secret_pairs}"
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    assert (
        accessor["secret_id"] == "${google_secret_manager_secret.this[each.value.secret].secret_id}"
    )
    assert accessor["member"] == "${google_service_account.function[each.value.function].member}"
    # no project-wide secret access
    for body in module.resources_of("google_project_iam_member").values():
        assert "secretmanager" not in body["role"]


def test_eventarc_receiver_and_storage_agent_publisher(module: Module) -> None:
    receiver = module.resource("google_project_iam_member", "trigger_event_receiver")
    assert receiver["role"] == "roles/eventarc.eventReceiver"
    assert receiver["member"] == "${google_service_account.trigger.member}"
    publisher = module.resource("google_project_iam_member", "gcs_service_agent_pubsub_publisher")
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == "${data.google_storage_project_service_account.this.member}"
    assert ("google_storage_project_service_account", "this") in module.data


def test_invokers_are_private_except_create_items_when_form_posts_are_enabled(
    module: Module,
) -> None:
    bindings = module.resources_of("google_cloud_run_service_iam_member")
    assert all(b["role"] == "roles/run.invoker" for b in bindings.values())
    public = {
        name for name, b in bindings.items() if b["member"] in ("allUsers", "allAuthenticatedUsers")
    }
    assert public == {"public_form_posts"}
    form_posts = bindings["public_form_posts"]
    assert form_posts["count"] == "${var.enable_public_form_posts ? 1 : 0}"
    assert form_posts["service"] == '${google_cloudfunctions2_function.this["create-items"].name}'
    assert module.variables["enable_public_form_posts"]["default"] is False
    trigger = bindings["trigger_invokes_upload_asset"]
    assert trigger["member"] == "${google_service_account.trigger.member}"
    assert "upload-asset" in trigger["service"]
    scheduler = bindings["scheduler_invokes_publish_live"]
    assert scheduler["member"] == "${google_service_account.scheduler.member}"
    assert "publish-live" in scheduler["service"]
    all_text = "\n".join(module.texts.values())
    assert all_text.count('"allUsers"') == 1
    assert "allAuthenticatedUsers" not in all_text


def test_scheduler_calls_publish_live_with_an_oidc_token(module: Module) -> None:
    job = module.resource("google_cloud_scheduler_job", "publish_live")
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == '${google_cloudfunctions2_function.this["publish-live"].url}'
    oidc = block(target, "oidc_token")
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    # The audience is the function's URL written from the inputs (the function's env needs it too).
    assert oidc["audience"] == "${local.publish_live_audience}"
    assert module.locals["publish_live_audience"] == (
        "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.name_prefix}-publish-live"
    )
    assert "oauth_token" not in target
    environment = module.locals["function_environment"]["publish-live"]
    assert environment["PUBLISH_ALLOWED_INVOKERS"] == "${google_service_account.scheduler.email}"
    assert environment["PUBLISH_OIDC_AUDIENCE"] == oidc["audience"]


# --- no secret values ---------------------------------------------------------------------------


def test_no_secret_value_passes_through_terraform(module: Module) -> None:
    assert not module.resources_of("google_secret_manager_secret_version")
    assert not [k for k in module.data if k[0] == "google_secret_manager_secret_version"]
    all_text = "\n".join(module.texts.values())
    assert "secret_data" not in all_text
    for name, body in module.variables.items():
        assert body.get("sensitive") is not True, f"variable {name} would carry a secret"
        assert not re.search(r"(token|secret|api_key|password)", name), name
    for name, body in module.outputs.items():
        assert body.get("sensitive") is not True, f"output {name} is sensitive"
        assert "secret_data" not in str(body["value"])
        # nor a secret version or a function's environment (plain or secret)
        assert not re.search(r"secret_version|environment", str(body["value"])), name
    example = (TERRAFORM_DIR / "terraform.tfvars.example").read_text()
    for name in SECRET_ENV_NAMES:
        assert name.lower() not in example.lower()


def test_outputs_expose_uris_buckets_and_service_accounts(module: Module) -> None:
    assert "url" in module.outputs["function_uris"]["value"]
    for name in (
        "ingestion_bucket_name",
        "function_service_account_emails",
        "trigger_service_account_email",
        "scheduler_service_account_email",
    ):
        assert name in module.outputs, name
    for name, body in module.outputs.items():
        assert len(body.get("description", "")) > 10, f"output {name} has no description"


def test_every_checkov_skip_is_justified(module: Module) -> None:
    skips = re.findall(r"#\s*checkov:skip=([^\n]*)", "\n".join(module.texts.values()))
    assert skips
    for skip in skips:
        match = re.fullmatch(r"(CKV2?_[A-Z]+_\d+):(.+)", skip.strip())
        assert match, f"malformed skip: {skip}"
        assert len(match.group(2).split()) >= 8, f"skip without a real reason: {skip}"
