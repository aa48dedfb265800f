"""Fixtures of the shared package's tests."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.storage import ObjectInfo, Storage
from tests.oidc_support import oidc_issuer  # noqa: F401 - a fixture, offered to every module


@pytest.fixture
def storage(gcs: Any) -> Storage:
    """A Storage on the test's fake-gcs-server, reading in small chunks."""
    return Storage(gcs.client, emulated=True, chunk_size=64 * 1024)


def put_and_read(
    gcs: Any,
    storage: Storage,
    name: str,
    data: bytes,
    content_type: str = "image/png",
    **metadata: str,
) -> ObjectInfo:
    """Upload an object, then read it back through the Storage under test."""
    gcs.put(name, data, content_type, **metadata)
    info = storage.get_object(gcs.bucket_name, name)
    assert info is not None
    return info
