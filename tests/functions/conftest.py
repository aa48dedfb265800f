"""Fixtures shared by the functions' tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Sandbox
from tests.items_support import create_items, post_fields
from tests.oidc_support import oidc_issuer  # noqa: F401 - a fixture, offered to every module


@pytest.fixture
def posts(sandbox: Sandbox) -> str:
    """The id of the sandbox seed's posts collection."""
    return sandbox.collections["posts"]


@pytest.fixture
def submissions(sandbox: Sandbox) -> str:
    """The id of the sandbox seed's submissions collection (the form submissions)."""
    return sandbox.collections["submissions"]


@pytest.fixture
def add_posts(sandbox: Sandbox, posts: str) -> Callable[..., list[dict[str, Any]]]:
    """Create staged posts directly over the sandbox's API (not through the code under test).

    ``add_posts(3)`` makes posts named ``post 0`` to ``post 2`` (slugs ``post-0`` to ``post-2``) and
    returns them in order; ``prefix`` names them otherwise, and ``cms_locale_ids`` or ``is_draft``
    go to ``create_items``.
    """

    def add(count: int, prefix: str = "post", **options: Any) -> list[dict[str, Any]]:
        with sandbox.api() as api:
            return create_items(api, posts, post_fields(prefix, count), **options)

    return add
