"""Cold start: a fresh functions-framework process, from spawn to its first successful answer."""

from __future__ import annotations

import compileall
import py_compile
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
from bench._procs import (
    FUNCTIONS,
    REPO_ROOT,
    SandboxServer,
    function_env,
    spawn_function,
    start_fake_gcs,
)
from bench.report import Section, median
from devstack.demo import make_png

HELLO_WORLD = """\
import functions_framework
import httpx  # noqa: F401  (every function of the project imports it)


@functions_framework.http
def hello(request):
    return "ok"
"""

# A hello-world that makes one authenticated call to the Webflow API: what httpx's first request
# costs (its transport and a TLS context with the CA bundle, loaded on first use) before any
# validation library is imported.
API_CALL = """\
import os

import functions_framework
import httpx

CLIENT = None


@functions_framework.http
def call(request):
    global CLIENT
    if CLIENT is None:
        CLIENT = httpx.Client(
            base_url=os.environ["WEBFLOW_API_BASE_URL"],
            headers={"Authorization": "Bearer " + os.environ["WEBFLOW_API_TOKEN"]},
        )
    site = CLIENT.get("/sites/" + os.environ["WEBFLOW_SITE_ID"]).raise_for_status().json()
    return {"site": site["id"]}
"""

# The least a function doing this project's work pays on this stack: the same packages imported
# (pydantic, pydantic-settings, httpx), settings read from the environment, a body validated, one
# authenticated client made (with the default TLS verification, as against api.webflow.com) and
# one call to the Webflow API. With "bucket" and "object" in the body it first reads that object
# with google-cloud-storage, imported then, as upload-asset's first event does.
STACK_FLOOR = """\
import functions_framework
import httpx
from pydantic import BaseModel
from pydantic_settings import BaseSettings

CLIENT = None


class Settings(BaseSettings):
    webflow_api_token: str
    webflow_api_base_url: str
    webflow_site_id: str


class Body(BaseModel):
    name: str
    bucket: str | None = None
    object: str | None = None


@functions_framework.http
def floor(request):
    global CLIENT
    body = Body.model_validate(request.get_json())
    settings = Settings()
    if body.bucket and body.object:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        gcs = storage.Client(project="local", credentials=AnonymousCredentials())
        gcs.bucket(body.bucket).blob(body.object).download_as_bytes()
    if CLIENT is None:
        CLIENT = httpx.Client(
            base_url=settings.webflow_api_base_url,
            headers={"Authorization": f"Bearer {settings.webflow_api_token}"},
        )
    site = CLIENT.get(f"/sites/{settings.webflow_site_id}").raise_for_status().json()
    return {"name": body.name, "site": site["id"]}
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


def probes(extra: dict[str, Any]) -> dict[str, Probe]:
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
        return str(response.json()["id"])


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
        # Untethered: the tether's own interpreter start would be timed too. The process lives
        # only inside this try block, which stops it.
        process, url = spawn_function(source, target, env, name=name, log_dir=log_dir, tether=False)
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
        payload = make_png(24, 24, seed=f"cold-{attempt}-{uuid.uuid4().hex}")
        bucket.blob(f"uploads/cold-{attempt}.png").upload_from_string(
            payload, content_type="image/png"
        )
    env = {"STORAGE_EMULATOR_HOST": url, "UPLOAD_PREFIX": "uploads/"}
    return env, lambda attempt: {"bucket": bucket.name, "name": f"uploads/cold-{attempt}.png"}


HELLO = "hello-world"
API_CALL_START = "hello-world + API call"
FLOOR = "stack floor"
STORAGE_FLOOR = "stack floor + storage"
BASELINES = (HELLO, API_CALL_START, FLOOR, STORAGE_FLOOR)


def floor_of(name: str) -> str:
    """The baseline a function is held against beside the hello-world."""
    return STORAGE_FLOOR if name == "upload-asset" else FLOOR


def compile_sources(*directories: Path) -> None:
    """Write checked-hash bytecode beside the sources, as the deployment bundles carry it (a
    Cloud Functions instance never compiles the application on its cold start)."""
    for directory in directories:
        compiled = compileall.compile_dir(
            directory,
            quiet=1,
            force=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        if not compiled:
            raise RuntimeError(f"could not compile {directory}")


def measure(
    *, rounds: int = 9, functions: list[str] | None = None
) -> dict[str, list[tuple[float, float]]]:
    """Interleave the baselines and each function, `rounds` times; seconds per start."""
    names = functions or list(FUNCTIONS)
    with running_stack() as stack, ExitStack() as cleanup:
        sandbox = stack.sandbox
        extra: dict[str, Any] = {"updateItemId": _seed_update_target(sandbox)}
        env_extra: dict[str, str] = {}
        if "upload-asset" in names:
            env_extra, extra["uploadObject"] = stage_upload_objects(stack.log_dir, rounds, cleanup)
        env = {**function_env(sandbox), **env_extra}
        # As on Cloud Functions, where neither is set: each start picks its own trust store.
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            env.pop(name, None)
        by_name = probes(extra)
        baseline_dir = Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-baselines-"))
        )
        for folder, text in (("hello", HELLO_WORLD), ("call", API_CALL), ("floor", STACK_FLOOR)):
            (baseline_dir / folder).mkdir()
            (baseline_dir / folder / "main.py").write_text(text)
        compile_sources(baseline_dir, REPO_ROOT / "functions", REPO_ROOT / "shared")

        def floor_body(attempt: int) -> dict[str, str]:
            return {"name": f"floor {attempt}"}

        subjects: dict[str, tuple[Path, str, Probe]] = {
            HELLO: (baseline_dir / "hello" / "main.py", "hello", Probe("GET", "/")),
            API_CALL_START: (baseline_dir / "call" / "main.py", "call", Probe("GET", "/")),
            FLOOR: (baseline_dir / "floor" / "main.py", "floor", Probe("POST", "/", floor_body)),
        }
        if "uploadObject" in extra:
            upload_object = extra["uploadObject"]

            def storage_floor_body(attempt: int) -> dict[str, str]:
                target = upload_object(attempt)
                return {**floor_body(attempt), "bucket": target["bucket"], "object": target["name"]}

            subjects[STORAGE_FLOOR] = (
                baseline_dir / "floor" / "main.py",
                "floor",
                Probe("POST", "/", storage_floor_body),
            )
        for name in names:
            if name in by_name:
                spec = FUNCTIONS[name]
                subjects[name] = (spec.source, spec.target, by_name[name])
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
        for attempt in range(rounds):
            for name, (source, target, probe) in subjects.items():
                timings[name].append(
                    time_to_first_success(
                        source, target, env, probe, attempt, name=name, log_dir=stack.log_dir
                    )
                )
    return timings


def run(*, rounds: int = 9) -> Section:
    timings = measure(rounds=rounds)
    ready = {name: [pair[0] for pair in pairs] for name, pairs in timings.items()}
    success = {name: [pair[1] for pair in pairs] for name, pairs in timings.items()}
    hello = median(success[HELLO])
    section = Section(
        key="coldStart",
        title=f"Cold start, spawn to first successful answer (median of {rounds})",
        columns=[
            "start",
            "first answer ms",
            "first success ms",
            "min ms",
            "max ms",
            "× hello-world",
            "× stack floor",
        ],
        data={"rounds": rounds, "seconds": success, "readySeconds": ready},
    )
    for name, values in success.items():
        floor = floor_of(name)
        against_floor = (
            f"{median(values) / median(success[floor]):.2f}"
            if name not in BASELINES and floor in success
            else ""
        )
        section.rows.append(
            [
                name,
                median(ready[name]) * 1000,
                median(values) * 1000,
                min(values) * 1000,
                max(values) * 1000,
                f"{median(values) / hello:.2f}",
                against_floor,
            ]
        )
    section.notes.append(
        "Each start is a fresh `python -m functions_framework` process (gunicorn, as the Python "
        "runtime), from checked-hash bytecode as the deployment bundles carry it, with "
        "SSL_CERT_FILE and SSL_CERT_DIR unset as on Cloud Functions. First answer: "
        "the module is imported and the server answers (a GET). First success: a real call "
        "against the sandbox (create one item, patch one item, a publish dry run, upload one "
        "object). Target ≤ 1.3× hello-world."
    )
    section.notes.append(
        "Hello-world + API call: the hello-world making one authenticated call to the Webflow "
        "API with httpx; its first request loads httpx's transport and a TLS context with the CA "
        "bundle, which every function pays before any validation."
    )
    section.notes.append(
        "Stack floor: a hello-world that does the least this work needs on the project's "
        "packages: imports pydantic, pydantic-settings and httpx, reads its settings, validates "
        "a body, makes one HTTP client with TLS verification and calls the Webflow API once; "
        "`+ storage` also reads the uploaded object with google-cloud-storage first. "
        "× stack floor compares upload-asset with the latter and the others with the former: "
        "what the project's own code adds."
    )
    return section
