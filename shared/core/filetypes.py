"""What an uploaded file may be, and the object metadata that names the item it joins.

Shared by form posts (shared/web/forms.py), which check files and write them to the bucket, and by the upload
pipeline (shared/uploads/assets.py), which checks them again and attaches them; kept apart so that form handling
does not import the pipeline and its storage layer.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONVERTED_IMAGE_TYPES",
    "DOCUMENT_TYPES",
    "EXIF_TAG_NAMES",
    "FILE_FIELD_TYPES",
    "FILE_TYPES",
    "IMAGE_TYPES",
    "INPUT_IMAGE_TYPES",
    "MAX_DOCUMENT_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_INPUT_BYTES",
    "META_ALT",
    "META_COLLECTION_ID",
    "META_FIELD",
    "META_ITEM_ID",
    "META_ITEM_SLUG",
    "UNTYPED_CONTENT_TYPES",
    "FileProblem",
    "allowed_extensions",
    "check_file",
    "content_type_fits",
    "extension_of",
    "extensions_for",
    "image_content_error",
    "normalized_content_type",
    "size_limit",
    "sniff_image",
]

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# What a raster photo may weigh on the way in (IMAGE_MAX_INPUT_BYTES): upload-asset fits it to
# MAX_IMAGE_BYTES (shared/uploads/imaging.py). SVG and AVIF pass through as they are, so Webflow's limit
# is theirs.
MAX_IMAGE_INPUT_BYTES = 20 * 1024 * 1024
_PASSED_AS_IS = frozenset({"svg", "avif"})
# The EXIF tags IMAGE_KEEP_TAGS may keep (the first image directory's descriptive tags: nothing
# that locates or identifies a device's owner beyond what a photographer chooses to sign).
EXIF_TAG_NAMES = frozenset(
    {"Artist", "Copyright", "ImageDescription", "Make", "Model", "Software", "DateTime"}
)

# Extension -> content types Cloud Storage may report for it (the first is the canonical one).
IMAGE_TYPES: dict[str, tuple[str, ...]] = {
    "png": ("image/png",),
    "jpg": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "jpeg": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "gif": ("image/gif",),
    "svg": ("image/svg+xml", "image/svg"),
    "webp": ("image/webp",),
    "avif": ("image/avif",),
}
DOCUMENT_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf", "application/x-pdf"),
    "doc": ("application/msword",),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    "xls": ("application/vnd.ms-excel",),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    "ppt": ("application/vnd.ms-powerpoint",),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation",),
    "txt": ("text/plain",),
    "csv": (
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "application/vnd.ms-excel",
    ),
    "odt": ("application/vnd.oasis.opendocument.text",),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet",),
    "odp": ("application/vnd.oasis.opendocument.presentation",),
}

# Image types Webflow refuses that upload-asset converts (to JPEG, or WebP).
CONVERTED_IMAGE_TYPES: dict[str, tuple[str, ...]] = {
    "heic": ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"),
    "heif": ("image/heif", "image/heic", "image/heif-sequence", "image/heic-sequence"),
    "tif": ("image/tiff", "image/tif"),
    "tiff": ("image/tiff", "image/tif"),
    "bmp": ("image/bmp", "image/x-ms-bmp", "image/x-bmp"),
}
INPUT_IMAGE_TYPES: dict[str, tuple[str, ...]] = {**IMAGE_TYPES, **CONVERTED_IMAGE_TYPES}

# Every extension taken: Webflow's, and the image types converted on the way.
FILE_TYPES: dict[str, tuple[str, ...]] = {**INPUT_IMAGE_TYPES, **DOCUMENT_TYPES}

# Content types that say nothing about a file: its extension decides.
UNTYPED_CONTENT_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"}
)

# CMS field types a file can go into.
FILE_FIELD_TYPES = frozenset({"Image", "MultiImage", "File"})

# Object metadata naming the item (and field) a stored file joins.
META_ITEM_ID = "webflow-item-id"
META_ITEM_SLUG = "webflow-item-slug"
META_COLLECTION_ID = "webflow-collection-id"
META_FIELD = "webflow-field"
META_ALT = "webflow-alt"


def extension_of(name: str) -> str:
    """The lowercase extension of an object name, without the dot ("" when none)."""
    base = posixpath.basename(name)
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


def extensions_for(field_type: str) -> dict[str, tuple[str, ...]]:
    """The file types a file field takes: any for a File field, images for Image and MultiImage
    (those Webflow refuses included: they are converted on the way)."""
    return FILE_TYPES if field_type == "File" else INPUT_IMAGE_TYPES


def size_limit(extension: str, image_input_bytes: int = MAX_IMAGE_INPUT_BYTES) -> int:
    """The most a file with this extension may weigh on the way in, in bytes: a raster image
    ``image_input_bytes`` (it is fitted to Webflow's 4 MB), SVG and AVIF Webflow's 4 MB, a
    document Webflow's 10 MB."""
    if extension in _PASSED_AS_IS:
        return MAX_IMAGE_BYTES
    return image_input_bytes if extension in INPUT_IMAGE_TYPES else MAX_DOCUMENT_BYTES


# The format sniff_image names for each image extension.
IMAGE_FORMAT_OF_EXTENSION = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "avif": "avif",
    "svg": "svg",
    "heic": "heif",
    "heif": "heif",
    "tif": "tiff",
    "tiff": "tiff",
    "bmp": "bmp",
}


def image_content_error(extension: str, head: bytes) -> str | None:
    """Why an image file's first bytes contradict its extension (None when they agree, or for
    a file that is not an image)."""
    declared = IMAGE_FORMAT_OF_EXTENSION.get(extension)
    if declared is None:
        return None
    sniffed = sniff_image(head)
    if sniffed == declared:
        return None
    found = f"{sniffed.upper()} data" if sniffed else "not a recognisable image"
    return f"the content is {found}, not the .{extension} its name says"


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes of a file say ("jpeg", "png", "gif", "webp", "avif",
    "heif", "tiff", "bmp", "svg"), or None. No decoder is needed: form posts check this too."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brands = {head[i : i + 4] for i in range(8, min(len(head), 32) - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return "avif"
        if brands & {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}:
            return "heif"
        return None
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype svg")):
        return "svg"
    return None


def normalized_content_type(value: str | None) -> str:
    """A reported content type without parameters, lowercase ("" when none)."""
    return (value or "").split(";", 1)[0].strip().lower()


def content_type_fits(extension: str, content_type: str) -> bool:
    """Whether a (normalized) reported content type agrees with the extension, or says nothing."""
    return content_type in UNTYPED_CONTENT_TYPES or content_type in FILE_TYPES.get(extension, ())


def allowed_extensions(setting: str | None) -> frozenset[str]:
    """UPLOAD_ALLOWED_EXTENSIONS (comma-separated, dots optional) as a set; None means every
    extension taken (Webflow's, and the image types converted on the way). Raises ValueError when
    it lists another."""
    if setting is None:
        return frozenset(FILE_TYPES)
    chosen = frozenset(e.strip().lower().lstrip(".") for e in setting.split(",") if e.strip())
    if not chosen <= FILE_TYPES.keys():
        # The offending entries are not echoed: a value pasted in the wrong variable may be a
        # secret, and the message goes to the logs.
        raise ValueError(f"must list only extensions Webflow accepts ({', '.join(FILE_TYPES)})")
    return chosen


@dataclass(frozen=True)
class FileProblem:
    """Why a file cannot become an asset, for each path to say in its own words: the extension is
    not taken, an SVG is not accepted, the reported content type contradicts the extension, the
    file is too large (``limit`` bytes) or empty, or its first bytes are another format
    (``detail``)."""

    kind: Literal["extension", "svg", "content_type", "size", "empty", "content"]
    extension: str
    content_type: str = ""
    limit: int = 0
    detail: str = ""


def check_file(
    extension: str,
    content_type: str,
    size: int,
    allowed: Collection[str],
    *,
    image_input_bytes: int = MAX_IMAGE_INPUT_BYTES,
    allow_svg: bool = True,
    head: bytes | None = None,
) -> FileProblem | None:
    """The one check of a file before it may become an asset, made by form posts (with the
    target's extensions), by the intake without a schema, and by upload-asset before it
    downloads a byte: the same file is refused on every path for the same reason.

    ``content_type`` is normalized; ``head`` (the first bytes, when at hand) is sniffed for an
    image whose content contradicts its extension.
    """
    if extension not in allowed:
        return FileProblem("extension", extension)
    if extension == "svg" and not allow_svg:
        return FileProblem("svg", extension)
    if not content_type_fits(extension, content_type):
        return FileProblem("content_type", extension, content_type)
    limit = size_limit(extension, image_input_bytes)
    if size > limit:
        return FileProblem("size", extension, content_type, limit)
    if size == 0:
        return FileProblem("empty", extension)
    mismatch = image_content_error(extension, head) if head is not None else None
    if mismatch:
        return FileProblem("content", extension, content_type, detail=mismatch)
    return None
