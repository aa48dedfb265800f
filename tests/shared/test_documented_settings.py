"""README.md's configuration tables name exactly the variables the settings classes read."""

from __future__ import annotations

import re

import pytest
from pydantic_settings import BaseSettings

from shared.cms.publishing import PublishSettings
from shared.cms.updates import UpdateItemsSettings
from shared.core.config import WebflowSettings
from shared.intake.drain import DrainSettings
from shared.intake.settings import CreateItemsSettings
from shared.uploads.assets import UploadSettings
from tests.support import REPO_ROOT

SETTINGS = [
    WebflowSettings,
    CreateItemsSettings,
    UpdateItemsSettings,
    PublishSettings,
    UploadSettings,
    DrainSettings,
]
# Read outside the settings classes: by the storage client, the log's trace ids, the TLS context,
# and (K_SERVICE, which Cloud Run sets) the local-only fallback of API keys.
READ_ELSEWHERE = {
    "K_SERVICE",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "GCP_PROJECT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
}
# The local stack's own settings, documented in devstack/README.md.
LOCAL_STACK = {"DEVSTACK_BASE_PORT", "DEVSTACK_DATA_DIR", "PUBLISH_INTERVAL", "SANDBOX_RATE_LIMIT"}


def configuration_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]


def documented_names() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`", configuration_section()))


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_variable_a_settings_class_reads_is_documented(settings: type[BaseSettings]) -> None:
    read = {name.upper() for name in settings.model_fields}
    assert read - documented_names() == set()


def test_every_documented_variable_is_read_by_the_code() -> None:
    read = {name.upper() for cls in SETTINGS for name in cls.model_fields}
    assert documented_names() - read - READ_ELSEWHERE - LOCAL_STACK == set()
