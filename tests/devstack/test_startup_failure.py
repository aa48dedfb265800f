"""A service that cannot start stops the whole stack, quoting the end of its log, leaving nothing."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from devstack.layout import StackLayout, free_base_port
from devstack.stack import StackOptions, run
from tests.devstack.stackproc import alive

pytestmark = pytest.mark.e2e


def test_a_function_that_cannot_start_stops_everything_with_its_log(tmp_path: Path) -> None:
    # A checkout without functions/: functions-framework exits at once for each of them.
    empty_checkout = tmp_path / "checkout"
    empty_checkout.mkdir()
    data_dir = tmp_path / "local"
    options = StackOptions(
        layout=StackLayout(base_port=free_base_port(data_dir), data_dir=data_dir),
        repo_root=empty_checkout,
        tether_services=True,
    )
    out = io.StringIO()

    exit_code = run(options, stream=out)

    output = out.getvalue()
    assert exit_code == 1
    assert re.search(r"The stack could not start: create-items exited with code \d+", output)
    assert "functions/create-items/main.py" in output.split("The stack could not start:")[1]
    started = [int(pid) for pid in re.findall(r"started pid (\d+)", output)]
    assert len(started) >= 3  # sandbox, gcs and at least one function
    assert not any(alive(pid) for pid in started)
    assert not (data_dir / "stack.json").exists()
