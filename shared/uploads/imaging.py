"""Images made web-ready before they become Webflow assets (upload-asset's path only).

Photos from phones and cameras arrive as HEIC, as 5-25 MB JPEGs, turned by an EXIF orientation tag
rather than in their pixels, and with GPS coordinates in their metadata. :func:`prepare_image` turns
such a file into one Webflow takes and that shows upright without telling where it was taken:

- HEIC/HEIF, TIFF and BMP (which Webflow refuses) become JPEG, or WebP (``IMAGE_OUTPUT_FORMAT``);
- the EXIF orientation is applied to the pixels;
- EXIF, XMP, IPTC and comments are removed (the ICC colour profile is kept), except the EXIF tags
  named in ``IMAGE_KEEP_TAGS``; for a JPEG or PNG that needs nothing else this is done on the
  file's segments, without re-encoding, so the pixels are untouched;
- an image over Webflow's 4 MB limit or longer than ``IMAGE_MAX_LONG_EDGE`` is downscaled and
  re-encoded at the highest quality that fits (a binary search down to ``IMAGE_QUALITY_FLOOR``);
- an image that is already within the limits, upright and without private metadata is passed through
  as it is (same bytes, same MD5); for a JPEG or PNG, :func:`scan_clean_image` tells so from the
  file's structure as it streams by, without Pillow and without holding the file;
- private metadata is looked for wherever a file can hide it: unknown JPEG APPn segments and PNG
  or WebP chunks, and anything after a JPEG's EOI, a PNG's IEND or a WebP's RIFF size (a phone's
  second picture, a motion photo's video); animated WebP and APNG are cleaned chunk by chunk,
  frames untouched; an AVIF with an Exif or XMP item is converted;
- animated GIF, WebP and PNG pass within the limit and are refused over it; SVG passes only as
  static drawing, by allow-list (shared/uploads/svg.py).

A file that is not what its name says, is truncated or corrupt, or has more pixels than
``IMAGE_MAX_PIXELS`` (a decompression bomb) is refused with :class:`ImageRefused`, before any
pixel is decoded where the header tells. Pillow and pillow-heif are imported here and only here.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shared.core.filetypes import (
    IMAGE_FORMAT_OF_EXTENSION,
    MAX_IMAGE_BYTES,
    image_content_error,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CONVERTED_EXTENSIONS",
    "ImageLimits",
    "ImageRefused",
    "PreparedImage",
    "check_svg",
    "prepare_image",
    "scan_clean_image",
]

OutputFormat = Literal["jpeg", "webp"]

# Sniffed formats Webflow refuses, converted on the way.
CONVERTED_EXTENSIONS = frozenset({"heic", "heif", "tif", "tiff", "bmp"})
_CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
_EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "png": "png"}
_QUALITY_CEILING = 92
_ORIENTATION = 0x0112
_MAX_FIT_ROUNDS = 8


class ImageRefused(Exception):
    """The image cannot become an asset; the message says why (it goes to ``webflow-error``)."""


@dataclass(frozen=True)
class ImageLimits:
    """What a prepared image must fit, and how it is made to."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_long_edge: int = 3200
    quality_floor: int = 60
    max_pixels: int = 50_000_000
    output_format: OutputFormat = "jpeg"
    keep_tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PreparedImage:
    """What goes to Webflow: the original (``data`` None) or a derived file.

    ``held`` is the original's bytes when they were read whole (a small object): sent from memory
    instead of being read from Cloud Storage a second time.
    """

    data: bytes | None
    extension: str
    content_type: str
    width: int
    height: int
    size: int
    md5: str
    steps: tuple[str, ...] = field(default_factory=tuple)
    held: bytes | None = field(default=None, repr=False)

    @property
    def derived(self) -> bool:
        return self.data is not None

    @property
    def in_memory(self) -> bytes | None:
        """The bytes to send when they are at hand (derived, or held); None: stream the object."""
        return self.data if self.data is not None else self.held

    def describe(self) -> str:
        """For the ledger: "original" or what was done."""
        return "; ".join(self.steps) if self.derived else "original"


def prepare_image(data: bytes, extension: str, limits: ImageLimits) -> PreparedImage:
    """Make ``data`` (named with ``extension``) web-ready, or refuse it.

    Raises:
        ImageRefused: the content is not the type its name says, is unreadable, too many pixels,
            an animation over the limit, or an SVG with active content.
    """
    declared = IMAGE_FORMAT_OF_EXTENSION.get(extension)
    if declared is None:
        raise ImageRefused(f".{extension} is not an image type")
    mismatch = image_content_error(extension, data[:64])
    if mismatch:
        raise ImageRefused(mismatch)
    if declared == "svg":
        check_svg(data, limits.max_bytes)
        return _original(data, extension, 0, 0)
    image = _open(data, declared, limits)
    width, height = image.size
    private = _private_metadata(data, declared)
    if getattr(image, "is_animated", False):
        return _animation(data, extension, declared, width, height, private, limits)
    orientation = _orientation(image)
    # HEIF, TIFF and BMP are converted; so is an AVIF that must change (its metadata lives in
    # the container's items, which cannot be cut out without rewriting the file).
    convert = declared in ("heif", "tiff", "bmp")
    oversize = len(data) > limits.max_bytes or max(width, height) > limits.max_long_edge
    if not (convert or oversize or orientation != 1 or private):
        return _original(data, extension, width, height)
    lossless = declared in ("jpeg", "png", "webp") and not _jpeg_private_between_scans(
        data, declared
    )
    if not (convert or oversize or orientation != 1) and lossless:
        kept = _kept_exif(image, limits.keep_tags) if declared != "webp" else None
        stripped = _STRIPPERS[declared](data, kept)
        return _derived(stripped, declared, width, height, ["metadata stripped, pixels untouched"])
    return _reencode(image, declared, limits, orientation, convert or declared == "avif", private)


def _animation(
    data: bytes,
    extension: str,
    declared: str,
    width: int,
    height: int,
    private: bool,
    limits: ImageLimits,
) -> PreparedImage:
    """An animation as it is, its metadata cut out of its chunks (it cannot be re-encoded and
    stay animated), or refused over the byte limit."""
    if private and declared in ("png", "webp"):
        data = _STRIPPERS[declared](data, None)
    if len(data) > limits.max_bytes:
        raise ImageRefused(
            f"an animated image of {len(data)} bytes is over Webflow's "
            f"{limits.max_bytes // (1024 * 1024)} MB limit (it cannot be resized and stay "
            "animated)"
        )
    if private and declared in ("png", "webp"):
        return _derived(data, declared, width, height, ["metadata stripped, frames untouched"])
    return _original(data, extension, width, height)


# --- streamed pass-through ----------------------------------------------------------------------


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
        content_type=_CONTENT_TYPES[declared],
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


# --- reading ------------------------------------------------------------------------------------


def _open(data: bytes, declared: str, limits: ImageLimits) -> Image.Image:
    """Open without decoding pixels; refuse a bomb from its header."""
    from PIL import Image, UnidentifiedImageError

    if declared == "heif":
        _register_heif()
    Image.MAX_IMAGE_PIXELS = limits.max_pixels  # Pillow's own guard, behind ours below
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRefused(
            f"the image cannot be read: not a valid {declared.upper()} file"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRefused(f"the image cannot be read: {_reason(exc)}") from None
    except Image.DecompressionBombError:
        raise ImageRefused(_bomb_reason(None, limits)) from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageRefused(_bomb_reason((width, height), limits))
    if width <= 0 or height <= 0:
        raise ImageRefused("the image has no pixels")
    return image


def _bomb_reason(size: tuple[int, int] | None, limits: ImageLimits) -> str:
    shown = f"{size[0]}×{size[1]} = {size[0] * size[1]:,} pixels" if size else "too many pixels"
    return f"the image is {shown}, more than IMAGE_MAX_PIXELS ({limits.max_pixels:,})"


def _reason(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, struct.error):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _private_metadata(data: bytes, declared: str) -> bool:
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


def _kept_exif(image: Image.Image, keep: frozenset[str]) -> bytes | None:
    """EXIF holding only the tags IMAGE_KEEP_TAGS names (never orientation or GPS), or None."""
    if not keep:
        return None
    from PIL import ExifTags, Image

    try:
        source = image.getexif()
    except (OSError, ValueError, SyntaxError, struct.error):
        return None
    kept = Image.Exif()
    for name in keep:
        tag = getattr(ExifTags.Base, name, None)
        if tag is None or tag in (_ORIENTATION, ExifTags.Base.GPSInfo, ExifTags.Base.ExifOffset):
            continue
        value = source.get(int(tag))
        if value is not None:
            kept[int(tag)] = value
    return kept.tobytes() if len(kept) else None


# --- lossless metadata removal ----------------------------------------------------------------


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


def _jpeg_private_between_scans(data: bytes, declared: str) -> bool:
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


_STRIPPERS = {"jpeg": _strip_jpeg, "png": _strip_png, "webp": _strip_webp}


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


# --- re-encoding --------------------------------------------------------------------------------


def _reencode(
    image: Image.Image,
    declared: str,
    limits: ImageLimits,
    orientation: int,
    convert: bool,
    private: bool,
) -> PreparedImage:
    from PIL import Image, ImageOps

    steps: list[str] = []
    if convert:
        steps.append(f"converted from {declared.upper()}")
    icc = image.info.get("icc_profile")
    exif = _kept_exif(image, limits.keep_tags)
    width, height = image.size
    scale = min(1.0, limits.max_long_edge / max(width, height))
    if declared == "jpeg" and scale < 1.0:
        # Decode at a reduced size where the JPEG allows it (1/2, 1/4, 1/8), never below the bound.
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    try:
        image.load()
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # a multi-page TIFF: its first page
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise ImageRefused(f"the image cannot be decoded: {_reason(exc)}") from None
    except Image.DecompressionBombError:
        raise ImageRefused(_bomb_reason(image.size, limits)) from None
    if scale < 1.0:
        image.thumbnail(
            (limits.max_long_edge, limits.max_long_edge), Image.Resampling.LANCZOS, reducing_gap=3.0
        )
        steps.append(f"downscaled from {width}×{height}")
    if orientation != 1:
        # After the resize: the rotated copy is of the smaller image.
        image = ImageOps.exif_transpose(image)
        steps.append("turned upright")
    image, target = _output_mode(image, declared, limits.output_format, steps)
    if icc and image.mode not in ("RGB", "RGBA", "L", "LA"):
        icc = None
    if private:
        steps.append(
            "metadata stripped"
            + (" (kept: " + ", ".join(sorted(limits.keep_tags)) + ")" if exif else "")
        )
    return _fit(image, target, limits, icc, exif, steps)


def _output_mode(
    image: Image.Image, declared: str, chosen: OutputFormat, steps: list[str]
) -> tuple[Image.Image, str]:
    """The pixels in a mode the output format takes, and that format."""
    alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if declared == "png":
        target = "png"
    elif alpha and chosen == "jpeg":
        target = "webp"  # JPEG has no transparency
        steps.append("WebP to keep transparency")
    else:
        target = chosen
    if target == "jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if alpha else "RGB")
    return image, target


def _fit(
    image: Image.Image,
    target: str,
    limits: ImageLimits,
    icc: bytes | None,
    exif: bytes | None,
    steps: list[str],
) -> PreparedImage:
    """Encode at the highest quality that fits the byte limit, downscaling when even the floor
    does not; a PNG that does not fit becomes lossy (WebP with transparency, else the output
    format)."""
    from PIL import Image

    for _round in range(_MAX_FIT_ROUNDS):
        if target == "png":
            encoded = _encode(image, "png", 0, icc, exif)
            if len(encoded) <= limits.max_bytes:
                return _derived(encoded, "png", *image.size, steps)
            alpha = image.mode in ("RGBA", "LA")
            target = "webp" if alpha or limits.output_format == "webp" else "jpeg"
            if target == "jpeg" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            steps.append(f"{target.upper()}: a PNG over the limit")
            continue
        best = _search_quality(image, target, limits, icc, exif)
        if best is not None:
            quality, encoded = best
            steps.append(f"{target.upper()} quality {quality}")
            return _derived(encoded, target, *image.size, steps)
        width, height = image.size
        image = image.resize(
            (max(1, int(width * 0.8)), max(1, int(height * 0.8))), Image.Resampling.LANCZOS
        )
        steps.append(f"downscaled to {image.size[0]}×{image.size[1]} to fit")
    raise ImageRefused("the image does not fit Webflow's limit at any size tried")


def _search_quality(
    image: Image.Image, target: str, limits: ImageLimits, icc: bytes | None, exif: bytes | None
) -> tuple[int, bytes] | None:
    """The highest quality in [floor, ceiling] whose encoding fits, by binary search."""
    low, high = limits.quality_floor, _QUALITY_CEILING
    best: tuple[int, bytes] | None = None
    encoded = _encode(image, target, high, icc, exif)
    if len(encoded) <= limits.max_bytes:
        return high, encoded
    high -= 1
    while low <= high:
        quality = (low + high) // 2
        encoded = _encode(image, target, quality, icc, exif)
        if len(encoded) <= limits.max_bytes:
            best, low = (quality, encoded), quality + 1
        else:
            high = quality - 1
    return best


def _encode(
    image: Image.Image, target: str, quality: int, icc: bytes | None, exif: bytes | None
) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, Any] = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    if target == "png":
        image.save(buffer, "PNG", optimize=True, **options)
    elif target == "webp":
        image.save(buffer, "WEBP", quality=quality, method=4, **options)
    else:
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True, **options)
    return buffer.getvalue()


# --- results ------------------------------------------------------------------------------------


def _original(data: bytes, extension: str, width: int, height: int) -> PreparedImage:
    declared = IMAGE_FORMAT_OF_EXTENSION[extension]
    return PreparedImage(
        data=None,
        extension=extension,
        content_type=_CONTENT_TYPES.get(
            declared, f"image/{'svg+xml' if declared == 'svg' else declared}"
        ),
        width=width,
        height=height,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )


def _derived(data: bytes, target: str, width: int, height: int, steps: list[str]) -> PreparedImage:
    return PreparedImage(
        data=data,
        extension=_EXTENSIONS[target],
        content_type=_CONTENT_TYPES[target],
        width=width,
        height=height,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        steps=tuple(steps),
    )


# --- SVG ----------------------------------------------------------------------------------------


def check_svg(data: bytes, max_bytes: int = MAX_IMAGE_BYTES) -> None:
    """Refuse an SVG that could act when served from Webflow's CDN: anything but static drawing,
    by allow-list (shared/uploads/svg.py).

    Raises:
        ImageRefused: naming what was found.
    """
    from shared.uploads.svg import SvgRefused, check_svg_content

    if len(data) > max_bytes:
        raise ImageRefused(f"an SVG of {len(data)} bytes is over Webflow's limit")
    try:
        check_svg_content(data)
    except SvgRefused as exc:
        raise ImageRefused(str(exc)) from None
