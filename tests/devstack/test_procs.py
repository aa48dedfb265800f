"""Child processes: logs prefixed and filed, whole process groups stopped, nothing left behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.procs import (
    ChildProcess,
    LogHub,
    ServiceLog,
    StartupError,
    command_line,
    group_members,
)
from tests.devstack.stackproc import alive

SPAWNS_GRANDCHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print("ready", child.pid, flush=True)
time.sleep(120)
"""

IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""


def start_until_ready(name: str, code: str, log: ServiceLog) -> tuple[ChildProcess, str]:
    """A child running Python `code`, started and waited for until it prints its "ready" line."""
    child = ChildProcess(
        name,
        [sys.executable, "-c", code],
        log=log,
        ready_line=lambda line: line.startswith("ready"),
    )
    child.start()
    return child, child.wait_ready_line(10)


def test_stop_ends_the_child_and_its_grandchildren(service_log: ServiceLog) -> None:
    child, ready = start_until_ready("tree", SPAWNS_GRANDCHILD, service_log)
    grandchild = int(ready.split()[1])
    assert sorted(group_members(child.pid)) == sorted([child.pid, grandchild])

    child.stop(timeout=5)

    assert group_members(child.pid) == []
    assert not alive(grandchild)


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(service_log: ServiceLog) -> None:
    child, _ = start_until_ready("stubborn", IGNORES_SIGTERM, service_log)

    child.stop(timeout=0.5)

    assert child.poll() == -9
    assert not alive(child.pid)
    assert "killing process group" in service_log.path.read_text()


def test_a_child_that_dies_before_its_ready_line_fails_fast(service_log: ServiceLog) -> None:
    child = ChildProcess(
        "broken",
        [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
        log=service_log,
        ready_line=lambda line: False,
    )
    child.start()

    with pytest.raises(StartupError, match="exited with code 3"):
        child.wait_ready_line(10)
    child.stop()
    assert "boom" in service_log.path.read_text()


def test_output_is_prefixed_on_the_terminal_and_kept_plain_in_the_file(tmp_path: Path) -> None:
    terminal = io.StringIO()
    hub = LogHub(tmp_path / "logs", terminal, color=False)
    child = ChildProcess(
        "echoer",
        [sys.executable, "-c", "print('hello'); import sys; print('oops', file=sys.stderr)"],
        log=hub.service("echoer"),
    )
    child.start()
    child.process.wait()  # type: ignore[union-attr]
    child.stop()
    hub.close()

    lines = terminal.getvalue().splitlines()
    assert any(line.startswith("echoer") and line.endswith("| hello") for line in lines)
    assert any(line.endswith("| oops") for line in lines)
    file_lines = (tmp_path / "logs" / "echoer.log").read_text().splitlines()
    assert "hello" in file_lines
    assert "oops" in file_lines


def test_colors_only_when_asked(tmp_path: Path) -> None:
    terminal = io.StringIO()
    hub = LogHub(tmp_path / "logs", terminal, color=True)

    hub.service("svc").line("x")
    hub.close()

    assert terminal.getvalue().startswith("\x1b[")


def test_group_members_finds_this_process_in_its_group() -> None:
    assert os.getpid() in group_members(os.getpgrp())


def test_structured_lines_are_readable_on_the_terminal_and_whole_in_the_file(
    tmp_path: Path,
) -> None:
    terminal = io.StringIO()
    hub = LogHub(tmp_path / "logs", terminal, color=False)
    record = (
        '{"severity": "INFO", "message": "asset uploaded", "time": "2026-11-22T18:29:06.343Z",'
        ' "logger": "webflow.shared.uploads.assets", "eventId": "42"}'
    )

    hub.service("upload-asset").line(record)
    hub.service("sandbox").line('{"apiBaseUrl": "http://127.0.0.1:1/v2"}')
    hub.close()

    shown = terminal.getvalue().splitlines()
    assert shown[0].endswith('| INFO asset uploaded {"eventId":"42"}')
    assert shown[1].endswith('| {"apiBaseUrl": "http://127.0.0.1:1/v2"}')
    assert (tmp_path / "logs" / "upload-asset.log").read_text() == record + "\n"


def test_command_line_of_a_live_and_of_a_finished_process() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"up\n"

        assert "time.sleep(30)" in (command_line(child.pid) or "")
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]

    assert command_line(child.pid) is None
