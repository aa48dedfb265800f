"""Fixtures shared by the functions' tests."""

from __future__ import annotations

import pytest

from tests.conftest import Sandbox


@pytest.fixture
def posts(sandbox: Sandbox) -> str:
    """The id of the sandbox seed's posts collection."""
    return sandbox.collections["posts"]
