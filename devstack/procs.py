"""Child processes of the local stack: start in their own process group, pump logs, stop cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TextIO

from devstack.tether import tethered

__all__ = [
    "ChildProcess",
    "LogHub",
    "ServiceLog",
    "StartupError",
    "command_line",
    "group_members",
    "readable",
]

_COLORS = ("1", "36", "33", "35", "32", "34", "91", "96", "93", "95", "92", "94", "90")


class StartupError(RuntimeError):
    """A service could not be started or did not become ready in time."""


class LogHub:
    """Fans every service's log lines out to the terminal (prefixed) and to one file per service."""

    def __init__(self, log_dir: Path, stream: TextIO | None = None, *, color: bool | None = None):
        self.log_dir = log_dir
        self.stream = stream if stream is not None else sys.stdout
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self._lock = threading.Lock()
        self._logs: dict[str, ServiceLog] = {}
        self._width = 12
        log_dir.mkdir(parents=True, exist_ok=True)

    def service(self, name: str) -> ServiceLog:
        """Return the log of one service (created on first use, its file appended to)."""
        with self._lock:
            if name not in self._logs:
                self._width = max(self._width, len(name))
                color = _COLORS[len(self._logs) % len(_COLORS)]
                self._logs[name] = ServiceLog(self, name, color)
            return self._logs[name]

    def emit(self, log: ServiceLog, text: str) -> None:
        """Write one line of one service to its file (as is) and to the terminal (readable)."""
        with self._lock:
            prefix = f"{log.name:<{self._width}} |"
            if self.color:
                prefix = f"\x1b[{log.color}m{prefix}\x1b[0m"
            try:
                self.stream.write(f"{prefix} {readable(text)}\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not take the stack down; the file still has the line
            log.file.write(text + "\n")
            log.file.flush()

    def announce(self, text: str) -> None:
        """Write text to the terminal as is, between two log lines (never inside one)."""
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        """Close every log file."""
        with self._lock:
            for log in self._logs.values():
                log.file.close()


# Keys of a structured log line that the terminal view leaves out (the file keeps everything).
_QUIET_KEYS = frozenset({"severity", "message", "time", "logger", "logging.googleapis.com/trace"})


def readable(text: str) -> str:
    """A structured (JSON) log line as `SEVERITY message {other fields}`; any other line as is."""
    if not text.startswith("{"):
        return text
    try:
        record = json.loads(text)
    except ValueError:
        return text
    if not isinstance(record, dict) or "message" not in record:
        return text
    extra = {key: value for key, value in record.items() if key not in _QUIET_KEYS}
    line = f"{record.get('severity', 'LOG')} {record['message']}"
    return f"{line} {json.dumps(extra, separators=(',', ':'))}" if extra else line


class ServiceLog:
    """The log of one service: a name, a color and a file under the log folder."""

    def __init__(self, hub: LogHub, name: str, color: str):
        self.hub = hub
        self.name = name
        self.color = color
        self.path = hub.log_dir / f"{name}.log"
        self.file: IO[str] = self.path.open("a", encoding="utf-8")

    def tail(self, lines: int = 8) -> str:
        """The last lines of the log file, for error messages."""
        try:
            return "\n".join(self.path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def line(self, text: str) -> None:
        """Log one line exactly as given (a child's output)."""
        self.hub.emit(self, text.rstrip("\r\n"))

    def info(self, message: str) -> None:
        """Log a message of the stack itself, timestamped."""
        self.line(f"{datetime.now().strftime('%H:%M:%S')} {message}")


def group_members(pgid: int) -> list[int]:
    """Return the live (non-zombie) processes of a process group.

    Read from /proc; where there is none (macOS), [pgid] while the group has any process left.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces) start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def command_line(pid: int) -> str | None:
    """The command line of a live process (from /proc, else from ps), or None when it is gone."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except FileNotFoundError:
        if Path("/proc").is_dir():
            return None
    except OSError:
        return None
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


class ChildProcess:
    """One service run as a child in a new session (its own process group), its output logged.

    With tether=True it also ends when this process dies without stopping it (devstack/tether.py):
    for stacks run inside a test or a benchmark. `make run` leaves that off: the services of a
    stack whose own process was killed are ended by `python -m devstack stop`.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: ServiceLog,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_line: Callable[[str], bool] | None = None,
        tether: bool = False,
    ):
        self.name = name
        self.argv = list(argv)
        self.tether = tether
        self.log = log
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._ready_line = ready_line
        self._ready = threading.Event()
        self.ready_text: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._pumps: list[threading.Thread] = []

    @property
    def pid(self) -> int:
        """The child's pid, which is also its process group id."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    def start(self) -> None:
        """Start the child in its own session so that its whole tree can be signalled at once."""
        try:
            self.process = subprocess.Popen(
                tethered(self.argv) if self.tether else self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartupError(f"{self.name}: cannot start {self.argv[0]}: {exc}") from exc
        for stream, watch in ((self.process.stdout, True), (self.process.stderr, False)):
            pump = threading.Thread(
                target=self._pump, args=(stream, watch), name=f"log-{self.name}", daemon=True
            )
            pump.start()
            self._pumps.append(pump)
        self.log.info(f"started pid {self.process.pid}: {' '.join(self.argv)}")

    def _pump(self, stream: IO[bytes] | None, watch_ready: bool) -> None:
        assert stream is not None
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace")
            self.log.line(text)
            if (
                watch_ready
                and self._ready_line
                and not self._ready.is_set()
                and self._ready_line(text)
            ):
                self.ready_text = text
                self._ready.set()
        stream.close()

    def wait_ready_line(self, timeout: float) -> str:
        """Wait for the ready line on stdout; fail early if the child exits first."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.poll() is not None:
                raise self.exit_error("before it was ready")
            if time.monotonic() > deadline:
                raise StartupError(f"{self.name} was not ready within {timeout:.0f}s")
        assert self.ready_text is not None
        return self.ready_text

    def exit_error(self, when: str) -> StartupError:
        """The error for a child that exited on its own, quoting the end of its log."""
        for pump in self._pumps:
            pump.join(timeout=2)  # its last words are the useful ones
        return StartupError(
            f"{self.name} exited with code {self.poll()} {when}; "
            f"the end of {self.log.path}:\n{self.log.tail()}"
        )

    def poll(self) -> int | None:
        """Return the exit code, or None while the child runs."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
        if self.process is None:
            return
        pgid = self.process.pid
        self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.poll()
            if self.process.returncode is not None and not group_members(pgid):
                break
            time.sleep(0.05)
        else:
            self.log.info(f"still running after {timeout:.0f}s: killing process group {pgid}")
            self._signal_group(pgid, signal.SIGKILL)
        self.process.wait()
        for pump in self._pumps:
            pump.join(timeout=2)
        self.log.info(f"stopped (exit code {self.process.returncode})")

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
