"""Image dimensions read from file headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.imaging import image_size
from tests.sandbox.images import gif, jpeg, png, webp_vp8x


@pytest.mark.parametrize("make", [png, gif, jpeg, webp_vp8x])
def test_dimensions_are_read_from_the_header(make: Callable[[int, int], bytes]) -> None:
    assert image_size(make(640, 480)) == (640, 480)


def test_unknown_bytes_have_no_dimensions() -> None:
    assert image_size(b"%PDF-1.7 not an image") is None
