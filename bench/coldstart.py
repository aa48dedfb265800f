"""Cold start: a fresh functions-framework process, from spawn to its first successful answer."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._common import function_client, running_stack
from bench._procs import FUNCTIONS, SandboxServer, function_env, spawn_function, start_fake_gcs
from bench.report import Section, median

PNG_HEADER = b"\x89PNG\r\n\x1a\n"

HELLO_WORLD = """\
import functions_framework
import httpx  # noqa: F401  (every function of the project imports it)


@functions_framework.http
def hello(request):
    return "ok"
"""


@dataclass
class Probe:
    """The first real call made to a starting function; success means a 2xx answer."""

    method: str
    path: str
    json: Callable[[int], Any] | None = None

    def call(self, client: httpx.Client, url: str, attempt: int) -> bool:
        body = self.json(attempt) if self.json else None
        response = client.request(self.method, url + self.path, json=body, timeout=30.0)
        return 200 <= response.status_code < 300


def probes(sandbox: SandboxServer, extra: dict[str, Any]) -> dict[str, Probe]:
    """One probe per function, each doing that function's everyday work against the sandbox."""
    update_id = extra["updateItemId"]
    result = {
        "create-items": Probe(
            "POST",
            "/",
            lambda n: {"items": [{"fieldData": {"name": f"Cold start {time.time_ns()} {n}"}}]},
        ),
        "update-items": Probe(
            "POST",
            "/",
            lambda n: {"items": [{"id": update_id, "fieldData": {"summary": f"cold {n}"}}]},
        ),
        "publish-live": Probe("POST", "/", lambda n: {"dryRun": True}),
    }
    if extra.get("uploadObject"):
        result["upload-asset"] = Probe("POST", "/", extra["uploadObject"])
    return result


def _seed_update_target(sandbox: SandboxServer) -> str:
    """An item for update-items to patch on every cold start."""
    with sandbox.api() as api:
        response = api.post(
            f"/collections/{sandbox.collections['posts']}/items",
            json={
                "isDraft": False,
                "isArchived": False,
                "fieldData": {"name": "Cold start target", "slug": "cold-start-target"},
            },
        )
        response.raise_for_status()
        return response.json()["id"]


def time_to_first_success(
    source: Path,
    target: str,
    env: dict[str, str],
    probe: Probe,
    attempt: int,
    *,
    name: str,
    log_dir: Path,
) -> tuple[float, float]:
    """Spawn functions-framework; seconds from spawn to its first HTTP answer of any kind (the
    module is imported and the server listens), and to the first success of `probe`."""
    with function_client(timeout=30.0) as client:
        started = time.perf_counter()
        process, url = spawn_function(source, target, env, name=name, log_dir=log_dir)
        ready: float | None = None
        try:
            deadline = started + 60.0
            while True:
                try:
                    if ready is None:
                        client.get(url + "/")
                        ready = time.perf_counter() - started
                    if probe.call(client, url, attempt):
                        return ready, time.perf_counter() - started
                except httpx.TransportError:
                    pass
                if process.process is not None and process.process.poll() is not None:
                    raise RuntimeError(f"{name} exited; log:\n{process.log_tail()}")
                if time.perf_counter() > deadline:
                    raise TimeoutError(
                        f"{name} gave no successful answer; log:\n{process.log_tail()}"
                    )
                time.sleep(0.005)
        finally:
            process.stop()


def stage_upload_objects(
    log_dir: Path, count: int, stack: ExitStack
) -> tuple[dict[str, str], Callable[[int], Any]]:
    """fake-gcs-server with one small image per cold start of upload-asset (each start uploads a new
    object: a processed one would be a no-op); return the function's extra env and the probe body."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    process, url = start_fake_gcs(root=log_dir / "gcs", log_dir=log_dir)
    stack.callback(process.stop)
    client = storage.Client(
        project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )
    bucket = client.create_bucket(f"bench-cold-{uuid.uuid4().hex[:8]}")
    for attempt in range(count):
        payload = PNG_HEADER + os.urandom(2048)
        bucket.blob(f"uploads/cold-{attempt}.png").upload_from_string(
            payload, content_type="image/png"
        )
    env = {"STORAGE_EMULATOR_HOST": url, "UPLOAD_PREFIX": "uploads/"}
    return env, lambda attempt: {"bucket": bucket.name, "name": f"uploads/cold-{attempt}.png"}


def measure(
    *, rounds: int = 5, functions: list[str] | None = None
) -> dict[str, list[tuple[float, float]]]:
    """Interleave the hello-world and each function, `rounds` times; seconds per start."""
    names = functions or list(FUNCTIONS)
    with running_stack() as stack, ExitStack() as cleanup:
        sandbox = stack.sandbox
        extra: dict[str, Any] = {"updateItemId": _seed_update_target(sandbox)}
        env_extra: dict[str, str] = {}
        if "upload-asset" in names:
            env_extra, extra["uploadObject"] = stage_upload_objects(stack.log_dir, rounds, cleanup)
        env = function_env(sandbox, **env_extra)
        by_name = probes(sandbox, extra)
        hello_dir = Path(tempfile.mkdtemp(prefix="bench-hello-"))
        (hello_dir / "main.py").write_text(HELLO_WORLD)
        timings: dict[str, list[tuple[float, float]]] = {"hello-world": []}
        timings.update({name: [] for name in names if name in by_name})
        for attempt in range(rounds):
            for name, samples in timings.items():
                if name == "hello-world":
                    source, target, probe = hello_dir / "main.py", "hello", Probe("GET", "/")
                else:
                    spec = FUNCTIONS[name]
                    source, target, probe = spec.source, spec.target, by_name[name]
                samples.append(
                    time_to_first_success(
                        source, target, env, probe, attempt, name=name, log_dir=stack.log_dir
                    )
                )
    return timings


def run(*, rounds: int = 5) -> Section:
    timings = measure(rounds=rounds)
    ready = {name: [pair[0] for pair in pairs] for name, pairs in timings.items()}
    success = {name: [pair[1] for pair in pairs] for name, pairs in timings.items()}
    hello = median(success["hello-world"])
    section = Section(
        key="coldStart",
        title=f"Cold start, spawn to first successful answer (median of {rounds})",
        columns=[
            "function",
            "first answer ms",
            "first success ms",
            "min ms",
            "max ms",
            "× hello-world",
        ],
        data={"rounds": rounds, "seconds": success, "readySeconds": ready},
    )
    for name, values in success.items():
        section.rows.append(
            [
                name,
                median(ready[name]) * 1000,
                median(values) * 1000,
                min(values) * 1000,
                max(values) * 1000,
                f"{median(values) / hello:.2f}",
            ]
        )
    section.notes.append(
        "Each start is a fresh `python -m functions_framework` process (gunicorn, as the Python "
        "runtime). First answer: the module is imported and the server answers (a GET). First "
        "success: a real call against the sandbox (create one item, patch one item, a publish dry "
        "run, upload one object). Target ≤ 1.3× hello-world."
    )
    return section
