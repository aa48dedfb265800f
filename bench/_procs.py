"""Real processes on loopback for the benchmarks: the sandbox, fake-gcs-server and functions.

The process helpers of the test suite (tests/support.py) are reused rather than written twice.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from devstack.layout import FUNCTIONS as STACK_FUNCTIONS
from devstack.layout import functions_framework_argv
from tests.conftest import Sandbox
from tests.support import ServerProcess, free_port, start_fake_gcs, start_sandbox

__all__ = [
    "FUNCTIONS",
    "FunctionSpec",
    "RunningFunction",
    "SandboxServer",
    "ServerProcess",
    "free_port",
    "function_env",
    "run_sandbox",
    "start_fake_gcs",
    "start_function",
]


@dataclass(frozen=True)
class FunctionSpec:
    """Where a function's code lives and which entry point serves it."""

    name: str
    target: str
    signature_type: str = "http"

    @property
    def source(self) -> Path:
        return REPO_ROOT / "functions" / self.name / "main.py"


# The local stack's HTTP servers, one per function folder (upload-asset through its HTTP twin).
FUNCTIONS: dict[str, FunctionSpec] = {
    spec.folder: FunctionSpec(spec.folder, spec.target)
    for spec in STACK_FUNCTIONS
    if spec.signature_type == "http"
}

API_KEY = "bench-api-key-0123456789"


class SandboxServer(Sandbox):
    """The test suite's sandbox handle, which the benchmarks also stop themselves."""

    def stop(self) -> None:
        self.http.close()
        self.process.stop()


def run_sandbox(*, rate_limit: int = 0, log_dir: Path | None = None) -> SandboxServer:
    """Start a sandbox on a free port of 127.0.0.1 (stop it with .stop())."""
    process, ready = start_sandbox(rate_limit=rate_limit, log_dir=log_dir)
    root_url = ready["apiBaseUrl"].rsplit("/v2", 1)[0]
    client = httpx.Client(base_url=root_url, timeout=30.0)
    try:
        info = client.get("/_sandbox/info").raise_for_status().json()
    except Exception:
        client.close()
        process.stop()
        raise
    return SandboxServer(process=process, root_url=root_url, info=info, http=client)


def function_env(sandbox: SandboxServer, *, rate_limit: int = 0, **extra: str) -> dict[str, str]:
    """The environment of a function process wired to the sandbox (and whatever else is given)."""
    import os

    env = dict(os.environ)
    env.update(
        {
            "WEBFLOW_API_TOKEN": sandbox.token,
            "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
            "WEBFLOW_SITE_ID": sandbox.site_id,
            "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
            # The sandbox answers at once: a function under test must not wait on its own pacing
            # unless the benchmark says so.
            "WEBFLOW_RATE_LIMIT_PER_MINUTE": str(rate_limit or 1_000_000),
            # update-items, publish-live and upload-asset fall back to create-items' keys.
            "CREATE_ITEMS_API_KEYS": API_KEY,
            "PUBLISH_COLLECTION_IDS": sandbox.collections["posts"],
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class RunningFunction:
    """A functions-framework process serving one function on a loopback port."""

    spec: FunctionSpec | None
    process: ServerProcess
    url: str

    def stop(self) -> None:
        self.process.stop()


def spawn_function(
    source: Path,
    target: str,
    env: Mapping[str, str],
    *,
    name: str,
    signature_type: str = "http",
    log_dir: Path | None = None,
    tether: bool = True,
) -> tuple[ServerProcess, str]:
    """Start functions-framework without waiting for it; return the process and its URL."""
    port = free_port()
    process = ServerProcess(
        name,
        functions_framework_argv(source, target, signature_type, port),
        env=env,
        log_dir=log_dir,
        tether=tether,
    ).start()
    return process, f"http://127.0.0.1:{port}"


def start_function(
    name: str,
    env: Mapping[str, str],
    *,
    log_dir: Path | None = None,
    timeout: float = 60.0,
) -> RunningFunction:
    """Start one of the project's functions and wait until it answers HTTP."""
    spec = FUNCTIONS[name]
    process, url = spawn_function(
        spec.source,
        spec.target,
        env,
        name=name,
        signature_type=spec.signature_type,
        log_dir=log_dir,
    )
    # Any answer below 500 means the framework listens and the module imported.
    process.wait_http(url + "/", timeout=timeout)
    return RunningFunction(spec=spec, process=process, url=url)
