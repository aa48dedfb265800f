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
from typing import TYPE_CHECKING, Any

from shared.core.filetypes import (
    IMAGE_FORMAT_OF_EXTENSION,
    MAX_IMAGE_BYTES,
    image_content_error,
)
from shared.uploads.metadata import (
    STRIPPERS,
    has_private_metadata,
    jpeg_private_between_scans,
    scan_clean_image,
)
from shared.uploads.prepared import (
    CONTENT_TYPES,
    CONVERTED_EXTENSIONS,
    EXTENSIONS,
    ImageLimits,
    ImageRefused,
    OutputFormat,
    PreparedImage,
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


_QUALITY_CEILING = 92
_ORIENTATION = 0x0112
_MAX_FIT_ROUNDS = 8


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
    private = has_private_metadata(data, declared)
    if getattr(image, "is_animated", False):
        return _animation(data, extension, declared, width, height, private, limits)
    orientation = _orientation(image)
    # HEIF, TIFF and BMP are converted; so is an AVIF that must change (its metadata lives in
    # the container's items, which cannot be cut out without rewriting the file).
    convert = declared in ("heif", "tiff", "bmp")
    oversize = len(data) > limits.max_bytes or max(width, height) > limits.max_long_edge
    if not (convert or oversize or orientation != 1 or private):
        return _original(data, extension, width, height)
    lossless = declared in ("jpeg", "png", "webp") and not jpeg_private_between_scans(
        data, declared
    )
    if not (convert or oversize or orientation != 1) and lossless:
        kept = _kept_exif(image, limits.keep_tags) if declared != "webp" else None
        stripped = STRIPPERS[declared](data, kept)
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
        data = STRIPPERS[declared](data, None)
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
        content_type=CONTENT_TYPES.get(
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
        extension=EXTENSIONS[target],
        content_type=CONTENT_TYPES[target],
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
