"""Fixtures shared by the functions' tests."""

from __future__ import annotations

import pytest

from tests.conftest import Sandbox
from tests.oidc_support import oidc_issuer  # noqa: F401 - a fixture, offered to every module


@pytest.fixture
def posts(sandbox: Sandbox) -> str:
    """The id of the sandbox seed's posts collection."""
    return sandbox.collections["posts"]
