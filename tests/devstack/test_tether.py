"""Servers started by a process end when that process dies without stopping them (devstack/tether.py).

Each case runs a real runner process that starts something the usual way, prints its pid, and is then
killed with SIGKILL: no teardown runs, yet the server must be gone within a few seconds.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from devstack.procs import group_members
from devstack.tether import tethered
from tests.devstack.stackproc import alive
from tests.support import REPO_ROOT, ServerProcess, start_sandbox

# The runner starts what it is told from a helper thread, as fixtures and benchmarks may do: the
# thread has ended by the time the runner is killed, and the server must outlive it.
RUNNER = """
import json, sys, threading, time
from pathlib import Path

kind, log_dir = sys.argv[1], Path(sys.argv[2])
started = {}

def start():
    if kind == "sandbox":
        from tests.support import start_sandbox
        server, ready = start_sandbox(log_dir=log_dir)
        started.update(pid=server.pid, url=ready["apiBaseUrl"])
    elif kind == "gcs":
        from tests.support import start_fake_gcs
        server, url = start_fake_gcs(root=log_dir / "gcs", log_dir=log_dir)
        started.update(pid=server.pid, url=url + "/storage/v1/b")
    elif kind == "devstack-child":
        from devstack.procs import ChildProcess, LogHub
        child = ChildProcess(
            "sleeper",
            [sys.executable, "-c", "print('ready', flush=True); import time; time.sleep(120)"],
            log=LogHub(log_dir, open(log_dir / "terminal", "w")).service("sleeper"),
            ready_line=lambda line: line.startswith("ready"),
            tether=True,
        )
        child.start()
        child.wait_ready_line(30)
        started.update(pid=child.pid)

thread = threading.Thread(target=start)
thread.start()
thread.join()
print(json.dumps(started), flush=True)
time.sleep(120)
"""

# Ignores SIGTERM and leaves a grandchild in its process group: only SIGKILL of the group ends both.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(grandchild.pid, flush=True)
time.sleep(120)
"""


def read_line(stream: IO[bytes], timeout: float = 30.0) -> str:
    """One line from a pipe, failing after timeout instead of blocking the test."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line within {timeout:.0f}s"
    return stream.readline().decode()


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Poll until none of pids is alive (a zombie counts as gone); return those still alive."""
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(url, timeout=2.0)
    except httpx.ConnectError:
        return True
    return False


def start_runner(kind: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], dict]:
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, kind, str(log_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert runner.stdout is not None
    return runner, json.loads(read_line(runner.stdout))


@pytest.mark.parametrize("kind", ["sandbox", "gcs", "devstack-child"])
def test_a_server_ends_when_the_process_that_started_it_is_killed(
    kind: str, tmp_path: Path
) -> None:
    runner, started = start_runner(kind, tmp_path)
    server = started["pid"]
    members = group_members(server)
    try:
        assert alive(server)
        assert len(members) == 2
        if "url" in started:
            assert not refuses_connections(started["url"])

        runner.kill()
        runner.wait(timeout=10)

        assert wait_gone(members) == []
        if "url" in started:
            assert refuses_connections(started["url"])
    finally:
        for pid in members:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        runner.stdout.close()  # type: ignore[union-attr]


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    script = f"""
import subprocess, sys
from devstack.tether import tethered
command = tethered([sys.executable, "-c", {STUBBORN!r}], grace=0.5)
server = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
grandchild = int(server.stdout.readline())
print(server.pid, grandchild, flush=True)
import time; time.sleep(120)
"""
    runner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE)
    assert runner.stdout is not None
    pids = [int(pid) for pid in read_line(runner.stdout).split()]
    members = group_members(pids[0])
    try:
        assert set(pids) < set(members)

        runner.kill()
        runner.wait(timeout=10)

        assert wait_gone(members) == []
    finally:
        for pid in members:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        runner.stdout.close()


def test_stop_ends_the_server_and_its_watcher_at_once(tmp_path: Path) -> None:
    server, ready = start_sandbox(log_dir=tmp_path)
    pid = server.pid
    assert ready["pid"] == pid  # the tether became the server: same pid, same group
    watcher = [member for member in group_members(pid) if member != pid]
    assert len(watcher) == 1

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 5  # the watcher adds nothing to a stop
    assert wait_gone([pid, *watcher]) == []
    assert group_members(pid) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [("sys.exit(7)", 7), ("sys.exit(0)", 0), ("os.kill(os.getpid(), signal.SIGKILL)", -9)],
)
def test_the_exit_status_is_the_command_s_own(code: str, expected: int, tmp_path: Path) -> None:
    process = ServerProcess(
        "exits", [sys.executable, "-c", f"import os, signal, sys; {code}"], log_dir=tmp_path
    ).start()
    assert process.process is not None

    assert process.process.wait(timeout=30) == expected
    process.stop()


def test_a_command_that_cannot_run_exits_127_with_a_message(tmp_path: Path) -> None:
    server = ServerProcess("missing", [str(tmp_path / "no-such-binary")], log_dir=tmp_path).start()
    assert server.process is not None

    assert server.process.wait(timeout=30) == 127
    assert "cannot run" in server.log_tail()


def test_it_runs_nothing_when_its_parent_is_already_gone() -> None:
    command = tethered([sys.executable, "-c", "print('ran')"])
    command[command.index("--parent") + 1] = "1"  # not the parent of the process about to start

    finished = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    assert finished.returncode == 125
    assert finished.stdout == ""
    assert "is gone" in finished.stderr
