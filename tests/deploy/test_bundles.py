"""Each function's bundle runs from its own requirements alone.

deploy/package.py builds the bundle; it is installed into a fresh virtual environment (no pip of
its own, no site packages) from the wheels of its requirements.txt only (``--no-index``: a
dependency the file forgets fails the install), started with functions-framework from the
bundle's folder, and it serves one real request against the sandbox and fake-gcs-server. The
wheels are fetched by `make test` (`make wheels`) from the package index; nothing here reaches
the internet.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import package
import pytest

from tests.conftest import FakeGCS, Sandbox
from tests.items_support import create_items, get_item, post_fields
from tests.support import REPO_ROOT, ServerProcess, free_port, skip_unless_installed

WHEELHOUSE = Path(os.environ.get("WHEELHOUSE", REPO_ROOT / ".cache" / "wheels"))
KEY = "bundle-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Served:
    """A bundle served by functions-framework from its own virtual environment."""

    url: str
    python: Path
    server: ServerProcess


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every function's bundle, built and extracted: {function: folder}."""
    skip_unless_installed(
        WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("*.whl")),
        f"no wheels in {WHEELHOUSE} (`make wheels` fetches them)",
    )
    out = tmp_path_factory.mktemp("bundles")
    folders = {}
    for bundle in package.build(out / "dist"):
        folder = out / bundle.function
        with zipfile.ZipFile(bundle.path) as archive:
            archive.extractall(folder)
        folders[bundle.function] = folder
    return folders


def _install(bundle: Path, venv: Path) -> Path:
    """A fresh virtual environment holding exactly the bundle's requirements; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"),
            *("--python", str(python), "install", "--no-index"),
            *("--find-links", str(WHEELHOUSE), "-r", str(bundle / "requirements.txt")),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    return python


@pytest.fixture
def serve(
    bundles: dict[str, Path], tmp_path: Path
) -> Iterator[Callable[[str, str, str, dict[str, str]], Served]]:
    started: list[ServerProcess] = []

    def start(function: str, target: str, signature: str, env: dict[str, str]) -> Served:
        folder = tmp_path / function
        shutil.copytree(bundles[function], folder)
        python = _install(folder, tmp_path / f"{function}-venv")
        port = free_port()
        argv = [
            str(python.parent / "functions-framework"),
            *("--target", target, "--signature-type", signature, "--source", "main.py"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]
        # Nothing of this process's environment but what a deployed function is given.
        clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "K_SERVICE": function}
        server = ServerProcess(function, argv, env={**clean, **env}, cwd=folder, log_dir=tmp_path)
        started.append(server.start())
        url = f"http://127.0.0.1:{port}/"
        server.wait_http(url, timeout=60)
        return Served(url, python, server)

    yield start
    for server in started:
        server.stop()


def _webflow(sandbox: Sandbox) -> dict[str, str]:
    return {
        "WEBFLOW_API_TOKEN": sandbox.token,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
    }


def _imports(served: Served, module: str) -> bool:
    found = subprocess.run(
        [str(served.python), "-c", f"import {module}"],
        check=False,
        capture_output=True,
        timeout=60,
    )
    return found.returncode == 0


def test_create_items_bundle_creates_an_item(serve: Any, sandbox: Sandbox) -> None:
    served = serve(
        "create-items", "create_items", "http", {**_webflow(sandbox), "CREATE_ITEMS_API_KEYS": KEY}
    )
    slug = f"bundle-{uuid.uuid4().hex[:8]}"

    response = httpx.post(
        served.url,
        json={"items": [{"fieldData": {"name": "From a bundle", "slug": slug}}]},
        headers=AUTH,
        timeout=30,
    )

    assert response.status_code == 201, response.text
    created = response.json()["results"][0]
    with sandbox.api() as api:
        assert (
            get_item(api, sandbox.collections["posts"], created["id"])["fieldData"]["slug"] == slug
        )
    assert not _imports(served, "PIL")  # upload-asset alone carries Pillow
    assert not _imports(served, "rich")  # the command-line tool's, never a function's


def test_update_items_bundle_patches_an_item_by_slug(serve: Any, sandbox: Sandbox) -> None:
    posts = sandbox.collections["posts"]
    with sandbox.api() as api:
        [item] = create_items(api, posts, post_fields(f"bundle-{uuid.uuid4().hex[:6]}", 1))
    served = serve(
        "update-items", "update_items", "http", {**_webflow(sandbox), "UPDATE_ITEMS_API_KEYS": KEY}
    )

    response = httpx.post(
        served.url,
        json={"items": [{"slug": item["fieldData"]["slug"], "fieldData": {"summary": "patched"}}]},
        headers=AUTH,
        timeout=30,
    )

    assert response.status_code == 200, response.text
    with sandbox.api() as api:
        assert get_item(api, posts, item["id"])["fieldData"]["summary"] == "patched"
    assert not _imports(served, "PIL")
    assert not _imports(served, "google.cloud.storage")  # it never touches Cloud Storage


def test_publish_live_bundle_publishes_a_pending_item(serve: Any, sandbox: Sandbox) -> None:
    posts = sandbox.collections["posts"]
    with sandbox.api() as api:
        [item] = create_items(api, posts, post_fields(f"bundle-{uuid.uuid4().hex[:6]}", 1))
    served = serve(
        "publish-live", "publish_live", "http", {**_webflow(sandbox), "PUBLISH_API_KEYS": KEY}
    )

    response = httpx.post(
        served.url, json={"collectionId": posts, "itemIds": [item["id"]]}, headers=AUTH, timeout=30
    )

    assert response.status_code == 200, response.text
    with sandbox.api() as api:
        live = api.get(f"/collections/{posts}/items/{item['id']}/live")
    assert live.status_code == 200
    assert not _imports(served, "PIL")


def test_drain_intake_bundle_reports_its_queue(serve: Any, sandbox: Sandbox, gcs: FakeGCS) -> None:
    served = serve(
        "drain-intake",
        "drain_intake",
        "http",
        {
            **_webflow(sandbox),
            "INTAKE_API_KEYS": KEY,
            "INTAKE_BUCKET": gcs.bucket_name,
            "FORM_FIELDS": "name",
            "STORAGE_EMULATOR_HOST": gcs.host,
            "GOOGLE_CLOUD_PROJECT": "test",
        },
    )

    response = httpx.get(served.url, headers=AUTH, timeout=30)

    assert response.status_code == 200, response.text
    assert response.json()["queued"] == 0
    assert not _imports(served, "PIL")


def test_upload_asset_bundle_turns_an_object_into_an_asset(
    serve: Any, sandbox: Sandbox, gcs: FakeGCS
) -> None:
    from devstack.demo import make_png

    name = f"uploads/bundle-{uuid.uuid4().hex[:8]}.png"
    blob = gcs.put(name, make_png(64, 48, seed=name))
    served = serve(
        "upload-asset",
        "upload_asset",
        "cloudevent",
        {
            **_webflow(sandbox),
            "UPLOAD_BUCKET": gcs.bucket_name,
            "UPLOAD_PREFIX": "uploads/",
            "STORAGE_EMULATOR_HOST": gcs.host,
            "GOOGLE_CLOUD_PROJECT": "test",
        },
    )
    event = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{gcs.bucket_name}",
        "ce-subject": f"objects/{name}",
        "ce-id": uuid.uuid4().hex,
        "ce-time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    data = {
        "name": name,
        "bucket": gcs.bucket_name,
        "generation": str(blob.generation),
        "metageneration": str(blob.metageneration),
        "contentType": "image/png",
        "size": str(blob.size),
        "md5Hash": blob.md5_hash,
        "timeCreated": blob.time_created.isoformat().replace("+00:00", "Z"),
    }

    response = httpx.post(served.url, headers=event, content=json.dumps(data), timeout=60)

    assert response.status_code == 200, served.server.log_tail()
    processed = gcs.bucket.get_blob(name).metadata or {}
    assert processed.get("webflow-asset-id"), processed
    assert _imports(served, "PIL")
