"""Start `python -m devstack run` as a real process for a test, and prove it leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.layout import StackLayout, free_base_port, read_state
from devstack.procs import group_members
from devstack.tether import tethered
from tests.support import REPO_ROOT

STARTUP_BOUND = 60.0
STOP_BOUND = 40.0


def devstack_argv(command: str, data_dir: Path, *options: str) -> list[str]:
    """`python -m devstack <command> <options> --data-dir <data_dir>`."""
    return [sys.executable, "-m", "devstack", command, *options, "--data-dir", str(data_dir)]


def run_devstack(
    command: str, data_dir: Path, *options: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a devstack command to its end from the repository root; its exit code and output."""
    return subprocess.run(
        devstack_argv(command, data_dir, *options),
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def alive(pid: int) -> bool:
    """True while pid is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


@dataclass
class StackProcess:
    """A running `python -m devstack run` and the state file it wrote."""

    data_dir: Path
    base_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls, data_dir: Path, *, publish_interval: float = 5.0, base_port: int | None = None
    ) -> StackProcess:
        base = base_port or free_base_port(data_dir)
        log_path = data_dir / "run.out"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PUBLISH_INTERVAL=str(publish_interval), NO_COLOR="1")
        with log_path.open("wb") as out:
            # Tethered to the test process, with time to stop its services if that one dies.
            process = subprocess.Popen(
                tethered(
                    devstack_argv("run", data_dir, "--base-port", str(base)), grace=STOP_BOUND
                ),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = cls(data_dir=data_dir, base_port=base, process=process, log_path=log_path)
        stack.wait_ready()
        return stack

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_BOUND + 30
        state_path = StackLayout(data_dir=self.data_dir).state_path
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the stack exited with {self.process.returncode}:\n{self.output()[-6000:]}"
                )
            state = read_state(state_path)
            if state and state.get("pid") == self.process.pid and "Stack up in" in self.output():
                self.state = state
                return
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"the stack was not up in time:\n{self.output()[-6000:]}")

    @property
    def child_pids(self) -> list[int]:
        return [int(pid) for pid in self.state.get("childPids", [])]

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = STOP_BOUND) -> int:
        """Signal the stack as Ctrl-C would and wait for it; return its exit code."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def leftovers(self) -> list[int]:
        """Processes of the stack still alive: its own, its children's and their process groups'."""
        left = [pid for pid in [self.process.pid, *self.child_pids] if alive(pid)]
        for pid in self.child_pids:
            left += [member for member in group_members(pid) if member not in left]
        return left

    def kill(self) -> None:
        """Last resort for a failed test: kill the stack and every group it started, by pid."""
        for pgid in [self.process.pid, *self.child_pids]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
