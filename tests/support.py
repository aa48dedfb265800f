"""Helpers for tests that start real servers on loopback and stop them by process id.

Every server is tethered to the process that starts it (devstack/tether.py): if that process dies
without stopping it (SIGKILL, `timeout`, a crashed xdist worker), the server is stopped all the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from devstack.stack import fake_gcs_binary
from devstack.tether import tethered

REPO_ROOT = Path(__file__).resolve().parents[1]


def skip_unless_installed(found: bool, reason: str) -> None:
    """Skip a test whose tool `make test` installs (Chromium, shellcheck, checkov) when it is absent.

    Under CI (the CI variable set) the absence is a failure instead: there `make test` has run its
    installs, so a missing tool means a broken install step, which a skip would hide.
    """
    if found:
        return
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason}; `make test` installs it, so CI must have it")
    pytest.skip(reason)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A child process in its own session, with its output in a log file, stopped by pid.

    It runs tethered to this process: it keeps its pid and process group (the tether execs it), and
    a watcher in that group stops the group if this process dies first. ``tether=False`` starts it
    directly, for a measurement that must not include the tether's own start.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = REPO_ROOT,
        log_dir: Path | None = None,
        tether: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.tether = tether
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd)
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix=f"{name}-")) / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self, *, capture_stdout: bool = False) -> ServerProcess:
        """Start the process; stdout is piped when the caller reads a ready line from it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            tethered(self.argv) if self.tether else self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        return self

    def read_json_line(self, timeout: float = 30.0) -> dict[str, Any]:
        """Read the first JSON object the process prints on stdout (its ready line)."""
        assert self.process is not None
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.process.stdout.fileno(), False)
        buffer = b""
        while time.monotonic() < deadline:
            chunk = self.process.stdout.read()
            if chunk:
                buffer += chunk
                for line in buffer.splitlines():
                    line = line.strip()
                    if line.startswith(b"{"):
                        ready: dict[str, Any] = json.loads(line)
                        return ready
            elif self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} printed no ready line; log:\n{self.log_tail()}")

    def wait_http(
        self, url: str, timeout: float = 30.0, ok: Callable[[int], bool] | None = None
    ) -> None:
        """Poll url until it answers (any status below 500 unless `ok` says otherwise)."""
        accept = ok or (lambda status: status < 500)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; log:\n{self.log_tail()}")
            try:
                if accept(httpx.get(url, timeout=1.0).status_code):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer at {url}; log:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Send SIGTERM to the process group, then SIGKILL if it lingers."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        if process.stdout is not None:
            process.stdout.close()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the process's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def start_sandbox(
    *, rate_limit: int = 0, log_dir: Path | None = None, extra: Sequence[str] = ()
) -> tuple[ServerProcess, dict[str, Any]]:
    """Start webflow-sandbox on a free port; return the process and its ready line."""
    server = ServerProcess(
        "webflow-sandbox",
        [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--rate-limit",
            str(rate_limit),
            *extra,
        ],
        log_dir=log_dir,
    ).start(capture_stdout=True)
    return server, server.read_json_line()


def start_fake_gcs(*, root: Path, log_dir: Path | None = None) -> tuple[ServerProcess, str]:
    """Start fake-gcs-server over HTTP on a free port; return the process and its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        "fake-gcs-server",
        [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(root),
            "-external-url",
            url,
            "-log-level",
            "warn",
        ],
        log_dir=log_dir,
    ).start()
    server.wait_http(f"{url}/storage/v1/b", ok=lambda status: status == 200)
    return server, url
