"""Fixtures shared by every test: the Webflow sandbox and fake-gcs-server as real servers on loopback."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO_ROOT, ServerProcess, start_fake_gcs, start_sandbox

# deploy/'s modules (package.py, closure.py) are scripts' siblings, imported by their names.
if str(REPO_ROOT / "deploy") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "deploy"))


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """Every test gets back the environment it started with."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_log_level() -> Iterator[None]:
    """Loading a function's settings applies LOG_LEVEL to the project's logger for the whole
    process; every test gets back the level it started with."""
    logger = logging.getLogger("webflow")
    level = logger.level
    yield
    logger.setLevel(level)


@dataclass
class Sandbox:
    """A running webflow-sandbox and what its /_sandbox/info says."""

    process: ServerProcess
    root_url: str
    info: dict[str, Any]
    http: httpx.Client = field(repr=False)

    @property
    def api_base_url(self) -> str:
        return str(self.info["apiBaseUrl"])

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_sandbox"

    @property
    def token(self) -> str:
        return str(self.info["tokens"]["full"])

    @property
    def read_only_token(self) -> str:
        return str(self.info["tokens"]["readOnly"])

    @property
    def site_id(self) -> str:
        return str(self.info["site"]["id"])

    @property
    def locales(self) -> dict[str, Any]:
        locales: dict[str, Any] = self.info["site"]["locales"]
        return locales

    @property
    def collections(self) -> dict[str, str]:
        collections: dict[str, str] = self.info["collections"]
        return collections

    def reset(self) -> None:
        """Back to the seed, default config and empty statistics."""
        self.http.post("/_sandbox/reset").raise_for_status()
        self.info = self.http.get("/_sandbox/info").raise_for_status().json()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/_sandbox/stats").raise_for_status().json()
        return stats

    def configure(self, **config: Any) -> dict[str, Any]:
        """POST /_sandbox/config, e.g. configure(rateLimitPerMinute=30, faults={...})."""
        answer: dict[str, Any] = (
            self.http.post("/_sandbox/config", json=config).raise_for_status().json()
        )
        return answer

    def api(self, token: str | None = None) -> httpx.Client:
        """A client on /v2 authenticated with the full token (or the one given)."""
        return httpx.Client(
            base_url=self.api_base_url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30.0,
        )


@contextlib.contextmanager
def running_sandbox(log_dir: Path, extra: Sequence[str] = ()) -> Iterator[Sandbox]:
    """A sandbox process on a free port (``extra``: its command-line options), stopped by pid."""
    process, ready = start_sandbox(log_dir=log_dir, extra=extra)
    root_url = ready["apiBaseUrl"].rsplit("/v2", 1)[0]
    client = httpx.Client(base_url=root_url, timeout=30.0)
    try:
        info = client.get("/_sandbox/info").raise_for_status().json()
        yield Sandbox(process=process, root_url=root_url, info=info, http=client)
    finally:
        client.close()
        process.stop()


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox process per test worker, on a free port, stopped by pid at the end."""
    with running_sandbox(tmp_path_factory.mktemp("sandbox-log")) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The worker's sandbox, reset to its seed before the test, with the process's clients forgotten.

    Clients and their pacing state live once per process (as in a function instance); a test that
    filled the token's window must not slow or fail the next one.
    """
    from shared.webflow import get_client
    from shared.webflow.pacing import reset_limiters

    sandbox_server.reset()
    reset_limiters()
    get_client.cache_clear()
    yield sandbox_server
    get_client.cache_clear()
    reset_limiters()


@pytest.fixture
def webflow_env(sandbox: Sandbox) -> dict[str, str]:
    """Point the Webflow settings of the code under test at the sandbox."""
    env = {
        "WEBFLOW_API_TOKEN": sandbox.token,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
    }
    os.environ.update(env)
    return env


@dataclass
class FakeGCS:
    """A running fake-gcs-server with a fresh bucket for the current test."""

    host: str
    bucket_name: str
    client: Any = field(repr=False)

    @property
    def bucket(self) -> Any:
        return self.client.bucket(self.bucket_name)

    def put(self, name: str, data: bytes, content_type: str = "image/png", **metadata: str) -> Any:
        """Upload an object (as a user or create-items would); return its Blob, properties loaded."""
        blob = self.bucket.blob(name)
        if metadata:
            blob.metadata = metadata
        blob.upload_from_string(data, content_type=content_type)
        return self.bucket.get_blob(name)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fake-gcs-server per test worker; yields its URL."""
    root = tmp_path_factory.mktemp("gcs-data")
    process, url = start_fake_gcs(root=root, log_dir=tmp_path_factory.mktemp("gcs-log"))
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture
def gcs(gcs_server: str) -> FakeGCS:
    """fake-gcs-server reached through STORAGE_EMULATOR_HOST, with a bucket of the test's own."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = gcs_server
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket_name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(bucket_name)
    return FakeGCS(host=gcs_server, bucket_name=bucket_name, client=client)
