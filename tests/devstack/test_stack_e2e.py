"""End to end: `python -m devstack run` as real processes, the demo scenario, and a clean stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.layout import StackLayout
from tests.devstack.stackproc import STARTUP_BOUND, StackProcess
from tests.support import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_stack_comes_up_runs_the_demo_and_stops_without_leftovers(tmp_path: Path) -> None:
    stack = StackProcess.start(tmp_path / "local")
    try:
        assert stack.state["startupSeconds"] < STARTUP_BOUND
        assert len(stack.child_pids) == 7  # sandbox, gcs and five functions-framework servers

        demo = subprocess.run(
            [sys.executable, "-m", "devstack", "demo", "--data-dir", str(stack.data_dir)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        )

        assert demo.returncode == 0, f"{demo.stdout}\n{demo.stderr}\n--- stack log ---\n{stack.output()[-8000:]}"
        assert "demo finished: 5 of 5 steps passed" in demo.stdout

        exit_code = stack.stop()

        assert exit_code == 0, stack.output()[-4000:]
        assert stack.leftovers() == []
        assert not StackLayout(data_dir=stack.data_dir).state_path.exists()
        assert (stack.data_dir / "logs" / "create-items.log").stat().st_size > 0
    finally:
        stack.kill()
