"""The command line: a taken port stops `run` before anything starts, with the way out."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.devstack.stackproc import run_devstack


def test_run_refuses_a_taken_port_and_says_how_to_move(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]

        result = run_devstack("run", tmp_path, "--base-port", str(taken))

    assert result.returncode == 2
    assert f"{taken} (sandbox)" in result.stderr
    assert "--base-port" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_demo_without_a_running_stack_says_to_start_it(tmp_path: Path) -> None:
    result = run_devstack("demo", tmp_path)

    assert result.returncode == 2
    assert "make run" in result.stderr
