"""What an uploaded file may be, and the object metadata that names the item it joins.

Shared by form posts (shared/forms.py), which check files and write them to the bucket, and by the upload
pipeline (shared/assets.py), which checks them again and attaches them; kept apart so that form handling
does not import the pipeline and its storage layer.
"""

from __future__ import annotations

import posixpath

__all__ = [
    "DOCUMENT_TYPES",
    "FILE_FIELD_TYPES",
    "FILE_TYPES",
    "IMAGE_TYPES",
    "MAX_DOCUMENT_BYTES",
    "MAX_IMAGE_BYTES",
    "META_ALT",
    "META_COLLECTION_ID",
    "META_FIELD",
    "META_ITEM_ID",
    "META_ITEM_SLUG",
    "UNTYPED_CONTENT_TYPES",
    "allowed_extensions",
    "content_type_fits",
    "extension_of",
    "extensions_for",
    "normalized_content_type",
    "size_limit",
]

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

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

# Every extension Webflow accepts.
FILE_TYPES: dict[str, tuple[str, ...]] = {**IMAGE_TYPES, **DOCUMENT_TYPES}

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
    """The file types a file field takes: any for a File field, images for Image and MultiImage."""
    return FILE_TYPES if field_type == "File" else IMAGE_TYPES


def size_limit(extension: str) -> int:
    """Webflow's size limit for a file with this extension, in bytes."""
    return MAX_IMAGE_BYTES if extension in IMAGE_TYPES else MAX_DOCUMENT_BYTES


def normalized_content_type(value: str | None) -> str:
    """A reported content type without parameters, lowercase ("" when none)."""
    return (value or "").split(";", 1)[0].strip().lower()


def content_type_fits(extension: str, content_type: str) -> bool:
    """Whether a (normalized) reported content type agrees with the extension, or says nothing."""
    return content_type in UNTYPED_CONTENT_TYPES or content_type in FILE_TYPES.get(extension, ())


def allowed_extensions(setting: str | None) -> frozenset[str]:
    """UPLOAD_ALLOWED_EXTENSIONS (comma-separated, dots optional) as a set; None means every
    extension Webflow accepts. Raises ValueError when it lists one Webflow refuses."""
    if setting is None:
        return frozenset(FILE_TYPES)
    chosen = frozenset(e.strip().lower().lstrip(".") for e in setting.split(",") if e.strip())
    if not chosen <= FILE_TYPES.keys():
        # The offending entries are not echoed: a value pasted in the wrong variable may be a
        # secret, and the message goes to the logs.
        raise ValueError(f"must list only extensions Webflow accepts ({', '.join(FILE_TYPES)})")
    return chosen
