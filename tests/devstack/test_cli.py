"""The command line: a taken port stops `run` before anything starts, with the way out."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT


def test_run_refuses_a_taken_port_and_says_how_to_move(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]

        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "devstack",
                "run",
                "--base-port",
                str(taken),
                "--data-dir",
                str(tmp_path),
            ],
            check=False,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 2
    assert f"{taken} (sandbox)" in result.stderr
    assert "--base-port" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_demo_without_a_running_stack_says_to_start_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "demo", "--data-dir", str(tmp_path)],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "make run" in result.stderr
