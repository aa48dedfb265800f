"""Private metadata by the bytes: the segments and chunks of JPEG, PNG, WebP and AVIF files that
carry it, the streamed scan that finds it, and copies of those files without it, every frame
byte-identical."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Iterator

from shared.core.filetypes import (
    IMAGE_FORMAT_OF_EXTENSION,
)
from shared.uploads.prepared import CONTENT_TYPES, ImageLimits, ImageRefused, PreparedImage

__all__ = ["STRIPPERS", "has_private_metadata", "jpeg_private_between_scans", "scan_clean_image"]


class _Truncated(Exception):
    """The stream ended inside a structure."""


class _Tap:
    """Reads a file's chunks in order, hashing and counting all of them, keeping only what a parse
    has not consumed yet."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._offset = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def _fill(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self.md5.update(chunk)
        self.size += len(chunk)
        self._buffer = self._buffer[self._offset :] + chunk
        self._offset = 0
        return True

    def read(self, count: int) -> bytes:
        while len(self._buffer) - self._offset < count:
            if not self._fill():
                raise _Truncated
        out = self._buffer[self._offset : self._offset + count]
        self._offset += count
        return out

    def skip(self, count: int) -> None:
        while count > 0:
            available = len(self._buffer) - self._offset
            if available == 0:
                if not self._fill():
                    raise _Truncated
                continue
            taken = min(count, available)
            self._offset += taken
            count -= taken

    def skip_past(self, value: bytes) -> None:
        """Consume everything up to and including the next ``value`` (one byte)."""
        while True:
            index = self._buffer.find(value, self._offset)
            if index >= 0:
                self._offset = index + 1
                return
            self._offset = len(self._buffer)
            if not self._fill():
                raise _Truncated

    def at_end(self) -> bool:
        """True when nothing is left to read."""
        while len(self._buffer) == self._offset:
            if not self._fill():
                return True
        return False

    def drain(self) -> None:
        """Hash the rest without keeping it."""
        self._buffer, self._offset = b"", 0
        while self._fill():
            self._buffer = b""


# JPEG markers without a length: TEM and the restart markers.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


# Start-of-frame markers (DHT 0xC4, JPG 0xC8 and DAC 0xCC are not).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


_HEADER_BYTES = 32  # enough of a segment or chunk to classify it


def scan_clean_image(
    chunks: Iterable[bytes], extension: str, limits: ImageLimits
) -> PreparedImage | None:
    """The original, when a JPEG or PNG streaming by as ``chunks`` is already web-ready: within the
    byte limit, the long-edge bound and the pixel bound, and without EXIF (so upright), XMP, IPTC,
    comments or text. None, as soon as that is known, when it needs :func:`prepare_image` (which
    also refuses what is wrong: another format, a truncated file); the caller closes ``chunks``.
    For a clean file every chunk is read, so ``size`` and ``md5`` are the whole file's. Nothing but
    the structure being parsed is kept, and Pillow is not imported.
    """
    declared = IMAGE_FORMAT_OF_EXTENSION.get(extension)
    if declared not in ("jpeg", "png"):
        return None
    tap = _Tap(chunks)
    try:
        found = _scan_jpeg(tap) if declared == "jpeg" else _scan_png(tap)
    except (_Truncated, struct.error):
        return None
    if found is None:
        return None
    tap.drain()
    width, height = found
    if (
        tap.size > limits.max_bytes
        or width <= 0
        or height <= 0
        or max(width, height) > limits.max_long_edge
        or width * height > limits.max_pixels
    ):
        return None
    return PreparedImage(
        data=None,
        extension=extension,
        content_type=CONTENT_TYPES[declared],
        width=width,
        height=height,
        size=tap.size,
        md5=tap.md5.hexdigest(),
    )


def _scan_jpeg(tap: _Tap) -> tuple[int, int] | None:
    """(width, height) of a JPEG whose header segments are all kept ones, else None."""
    if tap.read(2) != b"\xff\xd8":
        return None
    size: tuple[int, int] | None = None
    while True:
        if tap.read(1) != b"\xff":
            return None
        marker = tap.read(1)[0]
        while marker == 0xFF:  # fill bytes
            marker = tap.read(1)[0]
        if marker in _JPEG_STANDALONE:
            continue
        if marker == 0xDA:  # start of scan: the header is over
            return size if size is not None and _scan_to_the_end(tap) else None
        if marker == 0xD9:  # end of image before any scan
            return None
        length_bytes = tap.read(2)
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            return None
        head = tap.read(min(length - 2, _HEADER_BYTES))
        tap.skip(length - 2 - len(head))
        if not _kept_jpeg_segment(marker, b"\xff" + bytes([marker]) + length_bytes + head):
            return None
        if marker in _JPEG_FRAMES:
            if size is not None or len(head) < 5:
                return None  # a second frame (JPEG-LS, hierarchical): left to Pillow
            height, width = struct.unpack(">HH", head[1:5])
            size = (width, height)


def _scan_to_the_end(tap: _Tap) -> bool:
    """After a SOS marker: True when the scans end with EOI, no private segment stands between
    them, and nothing follows the EOI (a second picture, a video, a vendor's trailer)."""
    marker = 0xDA
    while True:
        (length,) = struct.unpack(">H", tap.read(2))
        if length < 2:
            return False
        head = tap.read(min(length - 2, _HEADER_BYTES))
        tap.skip(length - 2 - len(head))
        segment = b"\xff" + bytes([marker]) + struct.pack(">H", length) + head
        if not _kept_jpeg_segment(marker, segment):
            return False
        while True:  # the next marker that is not part of entropy-coded data
            tap.skip_past(b"\xff")
            marker = tap.read(1)[0]
            while marker == 0xFF:
                marker = tap.read(1)[0]
            if marker not in _IN_SCAN:
                break
        if marker == 0xD9:
            return tap.at_end()


def _scan_png(tap: _Tap) -> tuple[int, int] | None:
    """(width, height) of a still PNG without text, time or EXIF chunks, else None."""
    if tap.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
        return None
    size: tuple[int, int] | None = None
    while True:
        length, kind = struct.unpack(">I4s", tap.read(8))
        if kind not in _PNG_KEPT or kind == b"acTL":  # acTL: an animation, left to Pillow
            return None
        if kind == b"IHDR":
            if length != 13 or size is not None:
                return None
            size = struct.unpack(">II", tap.read(8))
            tap.skip(length - 8 + 4)
            continue
        if size is None:
            return None  # IHDR must come first
        tap.skip(length + 4)
        if kind == b"IEND":
            return size if tap.at_end() else None  # nothing may follow the image


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, whole segment bytes) of a JPEG's header segments, up to the scan."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ImageRefused("the JPEG is corrupt (a segment does not start with 0xFF)")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            return
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(data):
            raise ImageRefused("the JPEG is truncated")
        yield marker, data[position : position + 2 + length]
        position += 2 + length


def _kept_jpeg_segment(marker: int, segment: bytes) -> bool:
    """Segments without private content: everything but APPn (JFIF, ICC and Adobe aside) and COM."""
    if marker == 0xFE:  # COM
        return False
    if 0xE0 <= marker <= 0xEF:
        body = segment[4:]
        return (
            (marker == 0xE0 and body.startswith(b"JFIF\x00"))
            or (marker == 0xEE and body.startswith(b"Adobe"))
            or (marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"))
        )
    return True


def _jpeg_scan_end(data: bytes) -> tuple[int, bool]:
    """Where a JPEG's image ends (just after its EOI) and whether a private segment stands
    between its scans (a progressive file's tables and scans follow the first scan)."""
    position = _jpeg_header_end(data)
    private = False
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xD9:
            return position + 2, private
        if marker == 0xFF or marker in _JPEG_STANDALONE:
            position += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        private |= not _kept_jpeg_segment(marker, data[position : position + 2 + length])
        position += 2 + length
        if marker == 0xDA:
            position = _entropy_end(data, position)
    return len(data), private


def _jpeg_header_end(data: bytes) -> int:
    """Where the first scan's SOS marker stands (the header segments are before it)."""
    position = 2
    for _marker, segment in _jpeg_segments(data):
        position = data.index(segment, position) + len(segment)
    while position < len(data) and data[position : position + 2] == b"\xff\xff":
        position += 1
    return position


def _entropy_end(data: bytes, position: int) -> int:
    """The position of the first marker after a scan's entropy-coded data."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            return len(data)
        if data[position + 1] not in _IN_SCAN or data[position + 1] == 0xFF:
            if data[position + 1] == 0xFF:
                position += 1
                continue
            return position
        position += 2


# Bytes that may follow 0xFF inside entropy-coded data: a stuffed zero, restart markers, fill.
_IN_SCAN = frozenset({0x00, 0xFF, *range(0xD0, 0xD8)})


def jpeg_private_between_scans(data: bytes, declared: str) -> bool:
    return declared == "jpeg" and _jpeg_scan_end(data)[1]


def _strip_jpeg(data: bytes, exif: bytes | None) -> bytes:
    out = bytearray(data[:2])
    end = 2
    for marker, segment in _jpeg_segments(data):
        end = data.index(segment, end) + len(segment)
        if _kept_jpeg_segment(marker, segment):
            out += segment
            if marker == 0xE0 and exif:
                out += _jpeg_app1(exif)
                exif = None
    if exif:
        out[2:2] = _jpeg_app1(exif)
    out += data[end : _jpeg_scan_end(data)[0]]  # nothing after the end of the image
    return bytes(out)


def _jpeg_app1(exif: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# Chunks that say nothing but how to show the pixels (APNG's among them); any other, a known
# carrier (eXIf, tEXt, zTXt, iTXt, tIME, the legacy exIf and zxIf) or one of unknown meaning,
# is private.
_PNG_KEPT = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"iCCP",
        b"sBIT",
        b"bKGD",
        b"pHYs",
        b"hIST",
        b"cICP",
        b"mDCV",
        b"cLLI",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)


_WEBP_KEPT = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ANIM", b"ANMF", b"ALPH", b"ICCP"})


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, whole chunk bytes) of a PNG."""
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        end = position + 12 + length
        if end > len(data):
            raise ImageRefused("the PNG is truncated")
        kind = data[position + 4 : position + 8]
        yield kind, data[position:end]
        position = end
        if kind == b"IEND":
            return


def _strip_png(data: bytes, exif: bytes | None) -> bytes:
    """The PNG's kept chunks up to its IEND (nothing after it), with ``exif`` when given."""
    out = bytearray(_PNG_SIGNATURE)
    for kind, chunk in _png_chunks(data):
        if kind not in _PNG_KEPT:
            continue
        out += chunk
        if kind == b"IHDR" and exif:
            body = exif.removeprefix(b"Exif\x00\x00")
            crc = zlib.crc32(b"eXIf" + body)
            out += struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", crc)
    return bytes(out)


def _strip_webp(data: bytes, exif: bytes | None) -> bytes:
    """The WebP's kept chunks (EXIF, XMP and unknown ones cut, VP8X's flags for them cleared),
    within its RIFF size: the frames and pixels untouched."""
    del exif  # WebP's EXIF is not written back: its orientation would not be read by browsers
    body = bytearray(b"WEBP")
    for kind, chunk in _riff_chunks(data):
        if kind not in _WEBP_KEPT:
            continue
        if kind == b"VP8X" and len(chunk) >= 9:
            chunk = chunk[:8] + bytes([chunk[8] & ~0x0C & 0xFF]) + chunk[9:]
        body += chunk
    return b"RIFF" + struct.pack("<I", len(body)) + bytes(body)


STRIPPERS = {"jpeg": _strip_jpeg, "png": _strip_png, "webp": _strip_webp}


def _avif_has_metadata(data: bytes) -> bool:
    """True when an AVIF's ``meta`` box declares an Exif item or an XMP (``mime``) item."""
    position = 0
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1 and position + 16 <= len(data):
            (size,) = struct.unpack(">Q", data[position + 8 : position + 16])
            header = 16
        elif size == 0:
            size = len(data) - position
        if size < header:
            return True  # malformed: taken for private, so the file is converted
        if kind == b"meta":
            box = data[position + header : position + size]
            return b"Exif" in box or b"application/rdf+xml" in box or b"mime" in box
        position += size
    return False


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    riff_end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0]) if len(data) >= 8 else 0
    position = 12
    while position + 8 <= riff_end:
        kind = data[position : position + 4]
        (length,) = struct.unpack("<I", data[position + 4 : position + 8])
        end = position + 8 + length + (length & 1)
        yield kind, data[position : min(end, riff_end)]
        position = end


def has_private_metadata(data: bytes, declared: str) -> bool:
    """True when the file carries anything beside its pixels that could say who or where: EXIF,
    XMP, IPTC, comments, text, a segment or chunk of unknown meaning, or data after its end (a
    phone's second picture, a motion photo's video)."""
    if declared == "jpeg":
        private = any(not _kept_jpeg_segment(marker, body) for marker, body in _jpeg_segments(data))
        end, between = _jpeg_scan_end(data)
        return private or between or end < len(data)
    if declared == "png":
        chunks = list(_png_chunks(data))
        end = sum(len(chunk) for _, chunk in chunks) + len(_PNG_SIGNATURE)
        return any(kind not in _PNG_KEPT for kind, _ in chunks) or end < len(data)
    if declared == "webp":
        riff_end = 8 + struct.unpack("<I", data[4:8])[0] if len(data) >= 12 else len(data)
        return any(kind not in _WEBP_KEPT for kind, _ in _riff_chunks(data)) or riff_end < len(data)
    if declared == "avif":
        return _avif_has_metadata(data)
    return declared in ("heif", "tiff")  # converted anyway; their metadata is not carried over
