"""Private metadata wherever a file hides it: each carrier is cut out (or the file converted), and
an independent reader (Pillow, and the bytes themselves) finds no GPS in what comes out."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bench.photos import GPS_IFD, camera_exif, encode, jpeg_photo, photo_pixels
from shared.uploads.imaging import ImageLimits, prepare_image, scan_clean_image

LIMITS = ImageLimits()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>51,30N</exif:GPSLatitude></x:xmpmeta>'


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def before_iend(png: bytes, extra: bytes) -> bytes:
    end = png.rindex(b"IEND") - 4
    return png[:end] + extra + png[end:]


def frames(count: int = 3) -> list[Image.Image]:
    return [photo_pixels(32, 24, seed=n) for n in range(count)]


def animated(fmt: str, **options: object) -> bytes:
    first, *rest = frames()
    buffer = io.BytesIO()
    first.save(buffer, fmt, save_all=True, append_images=rest, duration=100, loop=0, **options)
    return buffer.getvalue()


def exif_bytes() -> bytes:
    return bytes(camera_exif().tobytes())


def jpeg_with_app(marker: int, body: bytes) -> bytes:
    data = encode(photo_pixels(64, 48), "JPEG", quality=80)
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    return data[:2] + segment + data[2:]


CARRIERS = {
    "animated WebP with EXIF and XMP": (
        animated("WEBP", exif=exif_bytes(), xmp=XMP, lossless=True),
        "webp",
    ),
    "APNG with eXIf": (animated("PNG", exif=exif_bytes()), "png"),
    "still AVIF with GPS": (encode(photo_pixels(64, 48), "AVIF", exif=exif_bytes()), "avif"),
    "still WebP with EXIF": (encode(photo_pixels(64, 48), "WEBP", exif=exif_bytes()), "webp"),
    "JPEG with a second picture after its end (MPF)": (
        encode(photo_pixels(64, 48), "JPEG") + jpeg_photo(32, 24),
        "jpg",
    ),
    "JPEG with a motion photo's video after its end": (
        encode(photo_pixels(64, 48), "JPEG") + b"\x00\x00\x00\x18ftypmp42" + XMP,
        "jpg",
    ),
    "JPEG with an unknown APP segment": (jpeg_with_app(0xE3, b"VENDOR\x00" + XMP), "jpg"),
    "JPEG with a JFXX APP0 that is not JFIF": (jpeg_with_app(0xE0, b"JFXX\x00" + XMP), "jpg"),
    "PNG with a legacy exIf chunk": (
        before_iend(encode(photo_pixels(64, 48), "PNG"), chunk(b"exIf", exif_bytes())),
        "png",
    ),
    "PNG with a legacy zxIf chunk": (
        before_iend(
            encode(photo_pixels(64, 48), "PNG"), chunk(b"zxIf", zlib.compress(exif_bytes()))
        ),
        "png",
    ),
    "PNG with eXIf after IEND": (
        encode(photo_pixels(64, 48), "PNG") + chunk(b"eXIf", exif_bytes()),
        "png",
    ),
    "PNG with an unknown ancillary chunk": (
        before_iend(encode(photo_pixels(64, 48), "PNG"), chunk(b"vpAg", XMP)),
        "png",
    ),
}


def no_gps(data: bytes) -> None:
    """What an independent reader finds: no GPS IFD, no XMP, no EXIF bytes left anywhere."""
    image = Image.open(io.BytesIO(data))
    assert not image.getexif().get_ifd(GPS_IFD)
    assert not image.info.get("xmp")
    assert not image.info.get("exif")
    assert b"GPSLatitude" not in data
    assert b"Exif\x00\x00" not in data
    assert b"MM\x00*" not in data


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_no_gps_survives_a_carrier(carrier: str) -> None:
    data, extension = CARRIERS[carrier]
    prepared = prepare_image(data, extension, LIMITS)
    assert prepared.derived, "the original would keep the metadata"
    assert prepared.data is not None
    no_gps(prepared.data)
    out = Image.open(io.BytesIO(prepared.data))
    source = Image.open(io.BytesIO(data))
    assert out.size == source.size
    assert getattr(out, "n_frames", 1) == getattr(source, "n_frames", 1)  # still animated


@pytest.mark.parametrize("carrier", [c for c in sorted(CARRIERS) if CARRIERS[c][1] != "avif"])
def test_the_streamed_pass_through_does_not_take_a_carrier_for_clean(carrier: str) -> None:
    data, extension = CARRIERS[carrier]
    assert (
        scan_clean_image([data[i : i + 512] for i in range(0, len(data), 512)], extension, LIMITS)
        is None
    )


def test_stripping_a_jpegs_trailer_keeps_its_pixels() -> None:
    clean = encode(photo_pixels(64, 48), "JPEG", quality=80)
    prepared = prepare_image(clean + jpeg_photo(32, 24), "jpg", LIMITS)
    assert prepared.data == clean  # the picture to its EOI, byte for byte


def test_an_animation_keeps_every_frame_byte_for_byte_once_stripped() -> None:
    data = animated("WEBP", exif=exif_bytes(), xmp=XMP, lossless=True)
    prepared = prepare_image(data, "webp", LIMITS)
    assert prepared.data is not None
    before = Image.open(io.BytesIO(data))
    after = Image.open(io.BytesIO(prepared.data))
    for number in range(getattr(before, "n_frames", 1)):  # an animation's frames, else one
        before.seek(number)
        after.seek(number)
        assert before.convert("RGBA").tobytes() == after.convert("RGBA").tobytes()
