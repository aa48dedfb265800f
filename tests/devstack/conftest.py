"""Fixtures of the local-stack tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.procs import LogHub, ServiceLog


@pytest.fixture
def log_hub(tmp_path: Path) -> Iterator[LogHub]:
    """A log hub writing to a string buffer and to files under tmp_path/logs."""
    hub = LogHub(tmp_path / "logs", io.StringIO(), color=False)
    yield hub
    hub.close()


@pytest.fixture
def service_log(log_hub: LogHub) -> ServiceLog:
    return log_hub.service("test")
