"""What a function pays for at import, before its first request: a cold start starts there.

Each function is imported in a fresh interpreter, as functions-framework does. Its pydantic models
must not be built yet (a model builds its validator on first use, so a function pays only for the
models its requests use), and it must not load what only other paths need.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import REPO_ROOT

PROBE = """
import json, sys
sys.path.insert(0, ".")
import main
from pydantic import BaseModel

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

ours = {c for c in subclasses(BaseModel) if c.__module__ == "main" or c.__module__.startswith("shared.")}
print(json.dumps({
    "models": sorted(f"{c.__module__}.{c.__qualname__}" for c in ours),
    "built": sorted(f"{c.__module__}.{c.__qualname__}" for c in ours if c.__pydantic_complete__),
    "modules": sorted(sys.modules),
}))
"""

# Loaded on first use only: Cloud Storage and Google auth (upload-asset's first event, an OIDC
# token), the upload pipeline (upload-asset), the XML parser (an S3 upload error), Pillow.
NEVER_AT_IMPORT = {
    "google.cloud.storage",
    "google.auth",
    "google.api_core",
    "requests",
    "xml.etree.ElementTree",
    # Image preparation: upload-asset's image path only (shared/uploads/imaging.py).
    "shared.uploads.imaging",
    "PIL",
    "PIL.Image",
    "pillow_heif",
}
NOT_AT_IMPORT = {
    "create-items": NEVER_AT_IMPORT
    | {
        "shared.uploads.assets",
        "shared.core.storage",
        "shared.cms.publishing",
        "shared.intake.queue",
        "shared.intake.enqueue",
    },
    "drain-intake": NEVER_AT_IMPORT
    | {"shared.uploads.assets", "shared.web.forms", "shared.cms.publishing"},
    "update-items": NEVER_AT_IMPORT
    | {"shared.uploads.assets", "shared.core.storage", "shared.web.forms"},
    "publish-live": NEVER_AT_IMPORT
    | {
        "shared.uploads.assets",
        "shared.core.storage",
        "shared.web.forms",
        "shared.cms.items",
        "shared.cms.fields",
    },
    "upload-asset": NEVER_AT_IMPORT | {"shared.web.forms", "shared.cms.publishing"},
}


def imported(function: str) -> dict[str, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT / "functions" / function,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.mark.parametrize("function", sorted(NOT_AT_IMPORT))
def test_importing_a_function_builds_no_model(function: str) -> None:
    found = imported(function)
    assert found["models"], "the probe found none of the function's models"
    assert found["built"] == []


@pytest.mark.parametrize("function", sorted(NOT_AT_IMPORT))
def test_importing_a_function_leaves_other_paths_unloaded(function: str) -> None:
    modules = set(imported(function)["modules"])
    assert {"main", "shared.core.config"} <= modules, "the probe did not import the function"
    assert sorted(NOT_AT_IMPORT[function] & modules) == []
