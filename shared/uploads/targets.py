"""What an uploaded object is (its event, its checks before a byte is read) and where it goes: the
item its metadata or its path names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Literal

from anyascii import anyascii

from shared.cms.values import is_item_id
from shared.core.filetypes import (
    FILE_TYPES,
    INPUT_IMAGE_TYPES,
    MAX_IMAGE_INPUT_BYTES,
    META_COLLECTION_ID,
    META_FIELD,
    META_ITEM_ID,
    META_ITEM_SLUG,
    UNTYPED_CONTENT_TYPES,
    FileProblem,
    check_file,
    extension_of,
    normalized_content_type,
)
from shared.core.storage import (
    ObjectInfo,
    parse_time,
)

__all__ = [
    "MAX_FILE_NAME_LENGTH",
    "ObjectRef",
    "PermanentUploadError",
    "Status",
    "Target",
    "UploadOutcome",
    "check_object",
    "display_name",
    "event_int",
    "matches_prefix",
    "parse_target_path",
    "sanitize_file_name",
    "target_from_metadata",
]

MAX_FILE_NAME_LENGTH = 99  # Webflow: "under 100 characters", extension included


class PermanentUploadError(Exception):
    """The object can never become an asset as it is; acknowledged with the reason recorded."""


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """The object an event or request names, with what the event says about it."""

    bucket: str
    name: str
    generation: int | None = None
    component_count: int | None = None
    event_time: dt.datetime | None = None
    event_id: str | None = None

    @classmethod
    def from_event_data(
        cls, data: Mapping[str, Any], *, event_time: Any = None, event_id: str | None = None
    ) -> ObjectRef:
        """Build from a google.cloud.storage.object.v1.finalized event's data (StorageObjectData)."""
        bucket, name = data.get("bucket"), data.get("name")
        if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
            raise PermanentUploadError("event data names no bucket and object")
        when = parse_time(event_time) or parse_time(data.get("timeCreated"))
        return cls(
            bucket=bucket,
            name=name,
            generation=event_int(data, "generation"),
            component_count=event_int(data, "componentCount"),
            event_time=when,
            event_id=event_id,
        )


def event_int(data: Mapping[str, Any], key: str) -> int | None:
    """An integer of the event data (Cloud Storage writes int64 as strings); malformed is permanent."""
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PermanentUploadError(f"event data has a malformed {key}: {value!r}") from None


@dataclasses.dataclass(frozen=True)
class Target:
    """The item field an asset goes into."""

    collection: str  # id or slug
    field: str
    item_id: str | None = None
    item_slug: str | None = None


def matches_prefix(name: str, prefixes: list[str]) -> str | None:
    """The configured prefix the object name falls under (None when none, or for a folder placeholder)."""
    if name.endswith("/"):
        return None
    if not prefixes:
        return ""
    for prefix in prefixes:
        if name.startswith(prefix):
            return prefix
    return None


def check_object(
    info: ObjectInfo,
    allowed_extensions: frozenset[str],
    image_input_bytes: int = MAX_IMAGE_INPUT_BYTES,
) -> str:
    """Check type, content type and size before any download; return the content type to upload with.

    A raster image may weigh up to ``image_input_bytes``: it is fitted to Webflow's limit on the
    way (shared/uploads/imaging.py).

    Raises:
        PermanentUploadError: with the reason, when the file cannot become an asset.
    """
    ext = extension_of(info.name)
    if not ext:
        raise PermanentUploadError("the object name has no file extension")
    reported = normalized_content_type(info.content_type)
    problem = check_file(
        ext, reported, info.size, allowed_extensions, image_input_bytes=image_input_bytes
    )
    if problem is not None:
        raise PermanentUploadError(_reason(problem, info.size))
    return FILE_TYPES[ext][0] if reported in UNTYPED_CONTENT_TYPES else reported


def _reason(problem: FileProblem, size: int) -> str:
    """The problem as upload-asset records it in the object's metadata."""
    if problem.kind == "content_type":
        return f"content type {problem.content_type} does not match extension .{problem.extension}"
    if problem.kind == "size":
        kind = "this image type" if problem.extension in INPUT_IMAGE_TYPES else "documents"
        return f"{size} bytes is over the {problem.limit / (1024 * 1024):g} MB limit for {kind}"
    if problem.kind == "empty":
        return "the object is empty"
    return f"extension .{problem.extension} is not allowed"


def sanitize_file_name(name: str) -> str:
    """A Webflow-safe file name from an object name: ASCII, no path, under 100 characters with extension."""
    base = posixpath.basename(name)
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = re.sub(r"[^a-z0-9]", "", anyascii(ext).lower())
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", anyascii(stem)).strip("-._") or "file"
    room = MAX_FILE_NAME_LENGTH - (len(ext) + 1 if ext else 0)
    stem = stem[:room].rstrip("-._") or "file"
    return f"{stem}.{ext}" if ext else stem


def parse_target_path(name: str, prefix: str) -> Target | None:
    """``<prefix><collection>/<item slug>/<field slug>.<ext>`` -> the target it names (None otherwise)."""
    rest = name[len(prefix) :].lstrip("/")
    parts = rest.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    collection, item, file_part = parts
    field = file_part.rpartition(".")[0] if "." in file_part else file_part
    if not field:
        return None
    if is_item_id(item):
        return Target(collection=collection, field=field, item_id=item)
    return Target(collection=collection, field=field, item_slug=item)


def target_from_metadata(info: ObjectInfo) -> Target | None:
    """The target create-items wrote into the object's metadata (None when it names none)."""
    collection = info.meta(META_COLLECTION_ID)
    field = info.meta(META_FIELD)
    item_id = info.meta(META_ITEM_ID)
    item_slug = info.meta(META_ITEM_SLUG)
    if not collection or not field or not (item_id or item_slug):
        return None
    return Target(
        collection=collection,
        field=field,
        item_id=item_id,
        item_slug=None if item_id else item_slug,
    )


def display_name(file_name: str) -> str:
    """A human item name from a file name: "summer_beach-01.jpg" -> "Summer beach 01"."""
    stem = posixpath.basename(file_name).rpartition(".")[0] or file_name
    words = re.sub(r"[-_.\s]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled"


Status = Literal["uploaded", "already_processed", "ignored", "stale", "rejected"]


@dataclasses.dataclass
class UploadOutcome:
    """What happened to one object."""

    status: Status
    bucket: str
    name: str
    generation: int | None = None
    reason: str | None = None
    asset_id: str | None = None
    hosted_url: str | None = None
    item_id: str | None = None
    collection_id: str | None = None
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The outcome as a JSON object (camelCase, no empty values)."""
        body = {
            "status": self.status,
            "bucket": self.bucket,
            "name": self.name,
            "generation": str(self.generation) if self.generation is not None else None,
            "reason": self.reason,
            "assetId": self.asset_id,
            "hostedUrl": self.hosted_url,
            "itemId": self.item_id,
            "collectionId": self.collection_id,
            "field": self.field,
        }
        return {key: value for key, value in body.items() if value is not None}
