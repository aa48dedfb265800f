"""Terraform itself evaluates the module's variables and rate-limit budget.

variables.tf and scaling.tf reference no provider, so they are copied into a scratch module that
`terraform init` sets up offline; their validations and arithmetic then run for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tfmodule import TERRAFORM_DIR, load_module, terraform_binary

REQUIRED = {
    "project_id": "my-project-id",
    "region": "europe-west1",
    "webflow_site_id": "580e63e98c9a982ac9b8b741",
    "webflow_collection_id": "580e63fc8c9a982ac9b8b745",
    "form_fields": ["name", "email", "message"],
}


class ScratchModule:
    """variables.tf + scaling.tf in a folder of their own, initialised without providers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.terraform = terraform_binary()
        for name in ("variables.tf", "scaling.tf"):
            shutil.copy(TERRAFORM_DIR / name, directory / name)
        config = directory / "terraformrc"
        config.write_text("")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(directory),
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "NO_COLOR": "1",
        }
        self.run("init", "-input=false", "-backend=false", "-no-color").check_returncode()

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.terraform, *args],
            cwd=self.directory,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @staticmethod
    def var_args(overrides: dict[str, object]) -> list[str]:
        values = {**REQUIRED, **overrides}
        return [
            f"-var={name}={value if isinstance(value, str) else json.dumps(value)}"
            for name, value in values.items()
        ]

    def evaluate(self, expression: str, **overrides: object) -> Any:
        result = self.run("console", *self.var_args(overrides), stdin=f"jsonencode({expression})\n")
        assert result.returncode == 0, result.stderr
        return json.loads(json.loads(result.stdout.strip()))

    def plan(self, **overrides: object) -> subprocess.CompletedProcess[str]:
        return self.run("plan", "-input=false", "-no-color", *self.var_args(overrides))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> ScratchModule:
    return ScratchModule(tmp_path_factory.mktemp("tf-scaling"))


def _total(scratch: ScratchModule, **overrides: object) -> tuple[dict, int]:
    per_instance = scratch.evaluate("local.instance_rate_limit", **overrides)
    functions = scratch.evaluate("local.functions", **overrides)
    total = sum(per_instance[name] * functions[name]["max_instances"] for name in per_instance)
    return per_instance, total


def test_variables_and_scaling_validate(scratch: ScratchModule) -> None:
    result = scratch.run("validate", "-no-color")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("token_limit", "expected"),
    [
        (
            60,
            {
                "create-items": 5,
                "update-items": 10,
                "publish-live": 5,
                "upload-asset": 5,
                "drain-intake": 25,
            },
        ),
        (
            120,
            {
                "create-items": 10,
                "update-items": 20,
                "publish-live": 10,
                "upload-asset": 10,
                "drain-intake": 50,
            },
        ),
    ],
)
def test_default_budget_uses_the_whole_limit_and_no_more(
    scratch: ScratchModule, token_limit: int, expected: dict[str, int]
) -> None:
    per_instance, total = _total(scratch, webflow_rate_limit_per_minute=token_limit)

    assert per_instance == expected
    assert total == token_limit


@pytest.mark.parametrize(
    "function_settings",
    [
        {"create-items": {"max_instances": 3}},
        {"upload-asset": {"max_instances": 5, "rate_limit_share": 7}},
        {"update-items": {"max_instances": 2}, "publish-live": {"rate_limit_share": 3}},
    ],
)
def test_overrides_never_exceed_the_limit(scratch: ScratchModule, function_settings: dict) -> None:
    per_instance, total = _total(
        scratch, webflow_rate_limit_per_minute=60, function_settings=function_settings
    )

    assert total <= 60
    assert all(rate >= 1 for rate in per_instance.values())


def test_overrides_keep_the_other_defaults(scratch: ScratchModule) -> None:
    functions = scratch.evaluate(
        "local.functions", function_settings={"create-items": {"memory": "1Gi"}}
    )

    assert functions["create-items"]["memory"] == "1Gi"
    assert functions["create-items"]["max_instances"] == 2
    assert functions["upload-asset"]["memory"] == "512Mi"


def test_valid_inputs_plan_cleanly(scratch: ScratchModule) -> None:
    result = scratch.plan(
        allowed_origins=["https://www.example.com"],
        field_map='{"Full Name": "name"}',
        invoker_members={
            "update-items": ["serviceAccount:ci@my-project-id.iam.gserviceaccount.com"]
        },
        extra_environment={"create-items": {"FORM_NAMES": "contact"}},
        update_items_max_body_bytes=2000000,
        publish_custom_domains=["589a331aa51e760df7ccb89d"],
        publish_to_webflow_subdomain=False,
        publish_max_retry_seconds=10,
        publish_max_run_seconds=120,
        form_trusted_proxies=1,
        upload_allowed_extensions=["png", "JPG", "pdf"],
        function_settings={"create-items": {"ingress": "ALLOW_INTERNAL_AND_GCLB"}},
    )

    assert result.returncode == 0, result.stderr


def test_every_function_setting_plans_cleanly(scratch: ScratchModule) -> None:
    result = scratch.plan(
        function_settings={
            "publish-live": {
                "memory": "256Mi",
                "cpu": "0.5",
                "timeout_seconds": 540,
                "min_instances": 0,
                "max_instances": 1,
                "concurrency": 1,
                "rate_limit_share": 1.5,
                "ingress": "ALLOW_INTERNAL_ONLY",
            },
            "upload-asset": {"min_instances": 1},
        }
    )

    assert result.returncode == 0, result.stderr


# One refusal per validation block of variables.tf (a test below checks that none is missing).
INVALID_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"project_id": "X"}, "project_id must be a Google Cloud project ID"),
    ({"region": "europe"}, "region must be a Google Cloud region"),
    ({"name_prefix": "a-very-long-prefix-name"}, "name_prefix must be 3-16"),
    ({"webflow_rate_limit_per_minute": 0}, "must be a positive integer"),
    ({"field_map": "[1, 2]"}, "field_map must be a JSON object"),
    ({"allowed_origins": ["https://example.com/form"]}, "allowed_origins must be origins"),
    ({"extra_environment": {"create-items": {"MY_TOKEN": "x"}}}, "must not carry secrets"),
    ({"extra_environment": {"create_items": {"A": "b"}}}, "keys must be function names"),
    ({"function_settings": {"create-items": {"concurrency": 0}}}, "concurrency 1-1000"),
    ({"function_settings": {"create-items": {"ingress": "PUBLIC"}}}, "ingress ALLOW_ALL"),
    ({"invoker_members": {"update-items": ["allUsers"]}}, "allUsers is reserved"),
    ({"max_event_age_seconds": 100000}, "max_event_age_seconds must be between"),
    ({"publish_schedule": "every 15 minutes"}, "five-field cron"),
    ({"build_service_account_roles": ["roles/editor"]}, "must not hold basic roles"),
    ({"update_items_max_body_bytes": 0}, "update_items_max_body_bytes must be a positive"),
    ({"publish_custom_domains": ["www.example.com"]}, "must be Webflow custom domain IDs"),
    ({"publish_max_retry_seconds": 61}, "publish_max_retry_seconds must be between"),
    ({"publish_max_run_seconds": 0}, "publish_max_run_seconds must be more than 0"),
    ({"form_captcha": {"provider": "recapcha"}}, "form_captcha.provider must be turnstile"),
    ({"form_captcha": {"provider": "hcaptcha", "failure": "drop"}}, "form_captcha.failure must"),
    ({"spam_retention_days": 0}, "spam_retention_days must be a whole number"),
    ({"form_trusted_proxies": -1}, "form_trusted_proxies must be a whole number"),
    ({"extra_environment": {"create-items": {"PORT": "8081"}}}, "Cloud Run reserves them"),
    (
        {"webflow_api_base_url": "https://user:pass@api.webflow.com/v2"},
        "webflow_api_base_url must be an https URL without credentials",
    ),
    ({"upload_allowed_extensions": ["png", "exe"]}, "upload_allowed_extensions must list only"),
    ({"form_trusted_proxies": 1.5}, "form_trusted_proxies must be a whole number"),
    ({"form_trusted_proxies": 1}, "form_trusted_proxies above 0 needs create-items' ingress"),
    (
        {
            "form_trusted_proxies": 1,
            "function_settings": {"create-items": {"ingress": "ALLOW_ALL"}},
        },
        "form_trusted_proxies above 0 needs create-items' ingress",
    ),
    ({"build_service_account_roles": []}, "must be a non-empty list of roles"),
    (
        {"webflow_api_base_url": "http://api.webflow.com/v2"},
        "webflow_api_base_url must be an https",
    ),
    ({"webflow_site_id": "my-site"}, "webflow_site_id must be a Webflow site ID"),
    ({"webflow_collection_id": "my-collection"}, "webflow_collection_id must be a Webflow"),
    ({"log_level": "VERBOSE"}, "log_level must be one of"),
    ({"upload_prefix": "/uploads/"}, "upload_prefix must be a relative object prefix"),
    ({"form_success_url": "/thanks"}, "form_success_url must be an http(s) URL"),
    ({"form_error_url": "/sorry"}, "form_error_url must be an http(s) URL"),
    ({"publish_collection_ids": ["a-b"]}, "publish_collection_ids must be Webflow collection IDs"),
    ({"ingest_collection_id": "a-b"}, "ingest_collection_id must be a Webflow collection ID"),
    ({"ingest_image_field": "Image Field"}, "ingest_image_field must be a CMS field slug"),
    ({"function_settings": {"create_items": {"memory": "1Gi"}}}, "function_settings keys must be"),
    ({"function_settings": {"create-items": {"cpu": "0"}}}, "cpu a number above 0"),
    ({"function_settings": {"create-items": {"max_instances": 1.5}}}, "whole numbers for"),
    ({"function_settings": {"create-items": {"ingress": ""}}}, "ingress ALLOW_ALL"),
    ({"invoker_members": {"update_items": []}}, "invoker_members keys must be function names"),
    ({"ingestion_bucket_name": "My_Bucket"}, "ingestion_bucket_name must be a valid bucket name"),
    ({"upload_retention_days": 0}, "upload_retention_days must be a whole number"),
    ({"form_intake": "later"}, "form_intake must be queue or sync"),
    ({"image_output_format": "png"}, "image_output_format must be jpeg or webp"),
    ({"image_max_long_edge": 8}, "image_max_long_edge must be a whole number"),
    ({"image_quality_floor": 95}, "image_quality_floor must be a whole number"),
    ({"image_max_pixels": 10}, "image_max_pixels must be between"),
    ({"image_keep_tags": ["GPSInfo"]}, "image_keep_tags must list only"),
    ({"image_max_input_bytes": 1000}, "image_max_input_bytes must be between"),
    ({"intake_bucket_name": "Intake!"}, "intake_bucket_name must be a valid bucket name"),
    ({"intake_retention_days": 0}, "intake_retention_days must be a whole number"),
    ({"intake_sweep_schedule": "every minute"}, "intake_sweep_schedule must be a five-field"),
    ({"intake_batch_window_seconds": 61}, "intake_batch_window_seconds must be between 0 and 60"),
    ({"intake_max_run_seconds": 0}, "intake_max_run_seconds must be positive"),
    ({"upload_retention_days": 1.5}, "upload_retention_days must be a whole number"),
    ({"noncurrent_version_retention_days": 0}, "noncurrent_version_retention_days must be"),
    ({"form_fields": []}, "form_fields must name the fields form posts and webhooks may write"),
    (
        {"form_fields": [], "field_map": '{"contact": {}}'},
        "form_fields must name the fields form posts and webhooks may write",
    ),
    ({"form_fields": ["name", "slug"]}, "form_fields must be CMS field slugs, and never slug"),
    ({"upload_collection_ids": ["posts"]}, "upload_collection_ids must be Webflow collection IDs"),
]


def test_field_map_entries_serve_as_form_fields(scratch: ScratchModule) -> None:
    flat = scratch.plan(form_fields=[], field_map='{"Full Name": "name"}')
    nested = scratch.plan(form_fields=[], field_map='{"contact": {"Email": "email"}}')
    assert flat.returncode == 0, flat.stderr
    assert nested.returncode == 0, nested.stderr


@pytest.mark.parametrize(("overrides", "message"), INVALID_INPUTS)
def test_invalid_inputs_are_refused_with_a_message(
    scratch: ScratchModule, overrides: dict, message: str
) -> None:
    result = scratch.plan(**overrides)

    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr


def test_every_validation_has_a_refusal_case() -> None:
    variables = load_module().variables
    missing = [
        f"{name}: {validation['error_message']}"
        for name, body in variables.items()
        for validation in body.get("validation", [])
        if not any(
            name in overrides and message in " ".join(validation["error_message"].split())
            for overrides, message in INVALID_INPUTS
        )
    ]

    assert not missing, "validations without a case in INVALID_INPUTS:\n" + "\n".join(missing)
