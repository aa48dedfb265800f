"""Real photos through upload-asset (fake-gcs-server, the sandbox): converted, turned upright,
stripped of private metadata, fitted to Webflow's limit, or passed through byte for byte; and the
files that must be refused, acknowledged with the reason."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from bench.photos import GPS_IFD, encode, heic_photo, jpeg_photo, photo_pixels, red_corner
from shared.uploads.assets import READ_ONCE_BYTES
from tests.functions.test_upload_asset import (
    _app,
    assets,
    deliver,
    finalized_event,
    hosted_bytes,
    ledger,
    upload_environment,
)

MB = 1024 * 1024


@pytest.fixture
def events(webflow_env: dict[str, str], gcs: Any, sandbox: Any) -> Iterator[Any]:
    """Test client of upload-asset's CloudEvent entry point."""
    upload_environment(webflow_env, sandbox)
    app, module = _app("upload_asset", "cloudevent")
    yield app.test_client()
    module.reset_state()


def uploaded(sandbox: Any, gcs: Any, name: str) -> tuple[Image.Image, bytes, dict[str, str]]:
    """The one asset made, its bytes as served, and the object's ledger."""
    [asset] = assets(sandbox)
    recorded = ledger(gcs, name)
    data = hosted_bytes(sandbox, recorded["webflow-hosted-url"])
    assert asset["id"] == recorded["webflow-asset-id"]
    return Image.open(io.BytesIO(data)), data, recorded


def test_a_heic_from_a_phone_becomes_an_upright_jpeg_without_gps(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    original = heic_photo(640, 480, orientation=6)
    blob = gcs.put("uploads/IMG_0001.HEIC", original, content_type="image/heic")

    assert deliver(events, finalized_event(blob)).status_code == 200

    image, data, recorded = uploaded(sandbox, gcs, "uploads/IMG_0001.HEIC")
    assert image.format == "JPEG"
    assert (image.size, red_corner(image)) == ((480, 640), "top-right")
    assert not image.getexif().get_ifd(GPS_IFD)
    assert recorded["webflow-uploaded"].startswith("converted from HEIF")
    assert recorded["webflow-uploaded-md5"] == hashlib.md5(data).hexdigest()
    assert recorded["webflow-uploaded-dimensions"] == "480x640"
    assert recorded["webflow-uploaded-size"] == str(len(data))
    [asset] = assets(sandbox)
    assert asset["originalFileName"].endswith(".jpg")
    # The original stays in the bucket untouched.
    assert gcs.bucket.get_blob("uploads/IMG_0001.HEIC").download_as_bytes() == original


def test_a_photo_over_webflows_limit_is_fitted_under_it(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    original = jpeg_photo(2800, 2100, quality=100, seed=5)
    assert len(original) > 4 * MB, "the test photo must be over Webflow's limit"
    blob = gcs.put("uploads/big.jpg", original, content_type="image/jpeg")

    assert deliver(events, finalized_event(blob)).status_code == 200

    image, data, recorded = uploaded(sandbox, gcs, "uploads/big.jpg")
    assert len(data) <= 4 * MB
    assert image.size == (2800, 2100)  # within the long-edge bound: only re-encoded
    assert "JPEG quality" in recorded["webflow-uploaded"]
    assert not image.getexif().get_ifd(GPS_IFD)


def test_a_photo_longer_than_the_bound_is_downscaled(events: Any, gcs: Any, sandbox: Any) -> None:
    os.environ["IMAGE_MAX_LONG_EDGE"] = "500"
    blob = gcs.put("uploads/wide.jpg", jpeg_photo(1500, 1000, gps=False), content_type="image/jpeg")

    assert deliver(events, finalized_event(blob)).status_code == 200

    image, _data, recorded = uploaded(sandbox, gcs, "uploads/wide.jpg")
    assert image.size == (500, 333)
    assert recorded["webflow-uploaded-dimensions"] == "500x333"


@pytest.mark.parametrize(
    ("width", "height", "quality", "held"),
    [(640, 480, 80, True), (2000, 1500, 95, False)],
    ids=["read-once", "streamed-twice"],
)
def test_a_clean_photo_passes_through_byte_for_byte(
    events: Any, gcs: Any, sandbox: Any, width: int, height: int, quality: int, held: bool
) -> None:
    original = encode(photo_pixels(width, height), "JPEG", quality=quality)
    # Both ways through: held in memory from one read, or scanned as it streams and then streamed.
    assert (len(original) <= READ_ONCE_BYTES) is held
    blob = gcs.put("uploads/clean.jpg", original, content_type="image/jpeg")

    assert deliver(events, finalized_event(blob)).status_code == 200

    _image, data, recorded = uploaded(sandbox, gcs, "uploads/clean.jpg")
    assert data == original
    assert recorded["webflow-uploaded"] == "original"
    assert recorded["webflow-uploaded-md5"] == hashlib.md5(original).hexdigest()


def test_a_redelivered_event_neither_prepares_nor_uploads_again(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    blob = gcs.put("uploads/IMG_0002.heic", heic_photo(320, 240), content_type="image/heic")
    event = finalized_event(blob)
    assert deliver(events, event).status_code == 200
    before = ledger(gcs, "uploads/IMG_0002.heic")

    assert deliver(events, event).status_code == 200

    assert len(assets(sandbox)) == 1
    assert ledger(gcs, "uploads/IMG_0002.heic") == before


def test_an_animated_gif_within_the_limit_passes_through(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    frames = [photo_pixels(48, 48, seed=n).convert("P") for n in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    blob = gcs.put("uploads/spin.gif", buffer.getvalue(), content_type="image/gif")

    assert deliver(events, finalized_event(blob)).status_code == 200

    _image, data, _recorded = uploaded(sandbox, gcs, "uploads/spin.gif")
    assert data == buffer.getvalue()


# --- refused, acknowledged, recorded ------------------------------------------------------------


def _bomb() -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


@pytest.mark.parametrize(
    ("name", "data", "content_type", "reason"),
    [
        ("uploads/bomb.png", _bomb(), "image/png", "more than IMAGE_MAX_PIXELS"),
        (
            "uploads/torn.jpg",
            jpeg_photo(600, 400, orientation=6)[:5000],
            "image/jpeg",
            "cannot be decoded|truncated",
        ),
        (
            "uploads/fake.jpg",
            encode(photo_pixels(20, 20), "PNG"),
            "image/jpeg",
            "the content is PNG data, not the .jpg",
        ),
        (
            "uploads/badge.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
            "<script>",
        ),
    ],
)
def test_a_file_that_cannot_be_an_asset_is_acknowledged_with_the_reason(
    events: Any, gcs: Any, sandbox: Any, name: str, data: bytes, content_type: str, reason: str
) -> None:
    blob = gcs.put(name, data, content_type=content_type)

    response = deliver(events, finalized_event(blob))

    assert response.status_code == 200  # acknowledged: never a redelivery storm
    assert re.search(reason, ledger(gcs, name)["webflow-error"])
    assert assets(sandbox) == []
    # Delivered again: the recorded refusal stands, nothing is decoded or sent.
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert assets(sandbox) == []
