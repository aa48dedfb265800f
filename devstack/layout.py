"""Where each service of the local stack listens, and the state file that `run` leaves for `demo`."""

from __future__ import annotations

import errno
import json
import os
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.tether import process_exists

__all__ = [
    "DEFAULT_BASE_PORT",
    "FUNCTIONS",
    "HOST",
    "PORT_OFFSETS",
    "FunctionSpec",
    "PortInUseError",
    "StackLayout",
    "check_ports",
    "free_base_port",
    "functions_framework_argv",
    "read_state",
    "write_state",
]

HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 8700

# Offsets from the base port; the defaults are 8700 sandbox, 8701-8704 functions, 8705 gcs,
# 8706 the HTTP twin of upload-asset, 8707 drain-intake, 8708 the challenge providers' stand-in
# (with --captcha), 8710 demo site.
PORT_OFFSETS: dict[str, int] = {
    "sandbox": 0,
    "create-items": 1,
    "update-items": 2,
    "publish-live": 3,
    "upload-asset": 4,
    "gcs": 5,
    "upload-asset-http": 6,
    "drain-intake": 7,
    "siteverify": 8,
    "demo-site": 10,
}


@dataclass(frozen=True)
class FunctionSpec:
    """One functions-framework server of the stack."""

    service: str  # name in the table and the logs
    folder: str  # functions/<folder>/main.py
    target: str
    signature_type: str = "http"


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("create-items", "create-items", "create_items"),
    FunctionSpec("update-items", "update-items", "update_items"),
    FunctionSpec("publish-live", "publish-live", "publish_live"),
    FunctionSpec("upload-asset", "upload-asset", "upload_asset", "cloudevent"),
    FunctionSpec("upload-asset-http", "upload-asset", "upload_asset_http"),
    FunctionSpec("drain-intake", "drain-intake", "drain_intake"),
)


def functions_framework_argv(
    source: str | Path, target: str, signature_type: str, port: int
) -> list[str]:
    """functions-framework's command line on HOST, as Cloud Functions' Python runtime runs it."""
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(source),
        "--target",
        target,
        "--signature-type",
        signature_type,
        "--host",
        HOST,
        "--port",
        str(port),
    ]


class PortInUseError(RuntimeError):
    """A port of the stack is taken by another program."""


@dataclass(frozen=True)
class StackLayout:
    """Ports and folders of one stack."""

    base_port: int = DEFAULT_BASE_PORT
    data_dir: Path = Path(".local")

    def port(self, service: str) -> int:
        """The port of a service."""
        return self.base_port + PORT_OFFSETS[service]

    def url(self, service: str) -> str:
        """The root URL of a service."""
        return f"http://{HOST}:{self.port(service)}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def sandbox_db(self) -> Path:
        return self.data_dir / "sandbox.sqlite3"

    @property
    def gcs_root(self) -> Path:
        return self.data_dir / "gcs"

    @property
    def bridge_state(self) -> Path:
        return self.data_dir / "bridge-state.json"

    @property
    def intake_bridge_state(self) -> Path:
        return self.data_dir / "intake-bridge-state.json"


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR, as the servers set it: a socket left in TIME_WAIT is no conflict, a listener is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def check_ports(layout: StackLayout) -> None:
    """Fail with a message that says what to do when any port of the stack is taken.

    Raises:
        PortInUseError: naming each taken port, its service, and how to move the stack.
    """
    taken = [
        f"{layout.port(service)} ({service})"
        for service in PORT_OFFSETS
        if _port_taken(layout.port(service))
    ]
    if not taken:
        return
    lines = [f"port{'s' if len(taken) > 1 else ''} already in use: {', '.join(taken)}."]
    running = read_state(layout.state_path)
    if running and _alive(running.get("pid")):
        lines.append(
            f"A local stack already runs (pid {running['pid']}, started {running.get('startedAt')}): "
            "stop it with Ctrl-C in its terminal or `python -m devstack stop`."
        )
    elif running and any(_alive(pid) for pid in running.get("childPids", [])):
        lines.append(
            "Services of an earlier stack that did not stop cleanly are still running: "
            "`python -m devstack stop` ends them."
        )
    else:
        lines.append("Stop the program that holds it, or move the whole stack to other ports:")
    suggestion = layout.base_port + 100
    lines.append(
        f"  python -m devstack run --base-port {suggestion}    "
        f"(or: DEVSTACK_BASE_PORT={suggestion} make run)"
    )
    raise PortInUseError("\n".join(lines))


def free_base_port(data_dir: Path, *, rng: random.Random | None = None) -> int:
    """A base port whose every service port is free right now, for a stack in `data_dir`.

    Drawn below Linux's ephemeral range (32768+), where outgoing connections and `bind(0)` get their
    ports, so that none of them can take a port of the stack between this check and its bind.
    """
    draw = rng.randrange if rng is not None else random.randrange
    for _ in range(50):
        base = draw(20_000, 32_000, 20)
        try:
            check_ports(StackLayout(base_port=base, data_dir=data_dir))
        except PortInUseError:
            continue
        return base
    raise RuntimeError("no free range of ports for the stack")


def _alive(pid: Any) -> bool:
    return isinstance(pid, int) and pid > 0 and process_exists(pid)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically, readable by its owner only (it holds local keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """Read the state file, or None when there is none (or it is unreadable)."""
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return state
    except (OSError, ValueError):
        return None
