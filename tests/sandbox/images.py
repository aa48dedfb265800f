"""Tiny valid image files built in memory for the asset tests."""

from __future__ import annotations

import struct

from devstack.demo import make_png


def png(width: int, height: int) -> bytes:
    """An RGB PNG of the given size (the same bytes for the same size)."""
    return make_png(width, height, seed=f"{width}x{height}")


def gif(width: int, height: int) -> bytes:
    """A GIF header with a logical screen of the given size."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int, height: int) -> bytes:
    """A JPEG skeleton: SOI, an APP0 segment, then a baseline SOF0 frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def webp_vp8x(width: int, height: int) -> bytes:
    """A WebP header with an extended (VP8X) chunk."""
    payload = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    payload += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload
