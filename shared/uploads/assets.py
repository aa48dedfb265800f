"""The upload pipeline: a Cloud Storage object becomes a Webflow asset, exactly once, then joins a CMS item.

One call of :func:`process_object` handles one object generation:

1. filter (prefix, age) and check (type, size, content type) before downloading a byte; a violation is
   recorded in the object's metadata (``webflow-error``) and acknowledged;
2. claim the generation in the object's metadata ledger (see shared/core/storage.py);
3. create the asset (MD5 from md5Hash, or hashed while streaming for composite objects), record its id,
   stream the bytes into the presigned multipart POST;
4. attach it to the item its metadata or path names, or create an item in INGEST_COLLECTION_ID;
5. record success; on any transient failure release the claim and raise so the platform retries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import posixpath
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from anyascii import anyascii
from pydantic import Field, SecretStr, field_validator

from shared.cms.fields import is_item_id, slugify
from shared.core.config import ConfigError, FunctionSettings, api_keys_of, blank_to_none, split_list
from shared.core.filetypes import (
    DOCUMENT_TYPES,
    FILE_FIELD_TYPES,
    FILE_TYPES,
    IMAGE_TYPES,
    INPUT_IMAGE_TYPES,
    MAX_DOCUMENT_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_INPUT_BYTES,
    META_ALT,
    META_COLLECTION_ID,
    META_FIELD,
    META_ITEM_ID,
    META_ITEM_SLUG,
    UNTYPED_CONTENT_TYPES,
    allowed_extensions,
    content_type_fits,
    extension_of,
    extensions_for,
    normalized_content_type,
    size_limit,
)
from shared.core.log import get_logger
from shared.core.storage import (
    META_ASSET_ID,
    META_ERROR,
    META_HOSTED_URL,
    Claim,
    ClaimBusyError,
    ObjectInfo,
    Storage,
    StorageError,
    parse_time,
)
from shared.uploads.ledger import Ledger, ledger_for
from shared.webflow.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    WebflowAPIError,
    WebflowConnectionError,
)
from shared.webflow.failures import is_transient

if TYPE_CHECKING:
    from shared.uploads.imaging import ImageLimits, PreparedImage
    from shared.webflow import WebflowClient
    from shared.webflow.models import Asset, AssetUpload, Collection, Item

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "MAX_DOCUMENT_BYTES",
    "MAX_IMAGE_BYTES",
    "ObjectRef",
    "PermanentUploadError",
    "UploadOutcome",
    "UploadSettings",
    "check_object",
    "parse_target_path",
    "process_object",
    "sanitize_file_name",
]

logger = get_logger(__name__)

# An image this small is read once, held in memory, scanned and sent from there; a larger one
# streams twice (scan, then upload) so memory stays flat whatever its size.
READ_ONCE_BYTES = 256 * 1024
MAX_FILE_NAME_LENGTH = 99  # Webflow: "under 100 characters", extension included

META_INGESTED_ITEM = "webflow-ingested-item-id"
# What went to Webflow for an image: "original" or what was done to it, and that file's MD5,
# size in bytes and dimensions (WxH), so that a redelivery neither prepares nor uploads again.
META_UPLOADED = "webflow-uploaded"
META_UPLOADED_MD5 = "webflow-uploaded-md5"
META_UPLOADED_SIZE = "webflow-uploaded-size"
META_UPLOADED_DIMENSIONS = "webflow-uploaded-dimensions"

Status = Literal["uploaded", "already_processed", "ignored", "stale", "rejected"]


class UploadSettings(FunctionSettings):
    """Settings of upload-asset (on top of the Webflow ones)."""

    upload_bucket: str | None = None
    upload_prefix: str = Field(
        default="", description="Comma-separated object name prefixes to handle"
    )
    max_event_age_seconds: float = Field(default=86_400.0, gt=0)
    ingest_collection_id: str | None = None
    ingest_image_field: str = "image"
    upload_allowed_extensions: str | None = None
    upload_api_keys: SecretStr | None = None
    create_items_api_keys: SecretStr | None = None
    upload_claim_ttl_seconds: float = Field(default=600.0, gt=0)
    upload_chunk_size_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    storage_retry_seconds: float = Field(default=30.0, ge=0)
    upload_asset_folder: str | None = None
    upload_max_body_bytes: int = Field(default=16_384, gt=0)
    upload_collection_ids: str = ""
    # Images fitted to Webflow's limits (shared/uploads/imaging.py).
    image_output_format: Literal["jpeg", "webp"] = "jpeg"
    image_max_long_edge: int = Field(default=3200, ge=16, le=20_000)
    image_quality_floor: int = Field(default=60, ge=1, le=92)
    image_max_pixels: int = Field(default=50_000_000, ge=1_000_000, le=500_000_000)
    image_keep_tags: str = ""
    image_max_input_bytes: int = Field(
        default=MAX_IMAGE_INPUT_BYTES, ge=MAX_IMAGE_BYTES, le=100 * 1024 * 1024
    )

    @field_validator("image_output_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        text = str(value).strip().lower() if value is not None else "jpeg"
        return "jpeg" if text == "jpg" else text

    @field_validator("image_keep_tags")
    @classmethod
    def _known_tags(cls, value: str) -> str:
        from shared.core.filetypes import EXIF_TAG_NAMES

        unknown = [name for name in split_list(value) if name not in EXIF_TAG_NAMES]
        if unknown:
            raise ValueError(
                f"names EXIF tags that are not kept: {', '.join(unknown[:5])} "
                f"(one of {', '.join(sorted(EXIF_TAG_NAMES))})"
            )
        return value

    def image_limits(self) -> ImageLimits:
        """What a prepared image must fit (shared/uploads/imaging.py)."""
        from shared.uploads.imaging import ImageLimits

        return ImageLimits(
            max_long_edge=self.image_max_long_edge,
            quality_floor=self.image_quality_floor,
            max_pixels=self.image_max_pixels,
            output_format=self.image_output_format,
            keep_tags=frozenset(split_list(self.image_keep_tags)),
        )

    @field_validator(
        "ingest_collection_id",
        "upload_asset_folder",
        "upload_allowed_extensions",
        "upload_bucket",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("upload_allowed_extensions")
    @classmethod
    def _known_extensions(cls, value: str | None) -> str | None:
        allowed_extensions(value)
        return value

    @property
    def prefixes(self) -> list[str]:
        """Object name prefixes handled ("" means every object)."""
        return split_list(self.upload_prefix)

    @property
    def attachable_collections(self) -> frozenset[str]:
        """Collections a file may be attached to: UPLOAD_COLLECTION_IDS, else the form's
        collection (WEBFLOW_COLLECTION_ID) and the gallery (INGEST_COLLECTION_ID)."""
        configured = split_list(self.upload_collection_ids)
        if configured:
            return frozenset(configured)
        return frozenset(
            value for value in (self.webflow_collection_id, self.ingest_collection_id) if value
        )

    @property
    def allowed_extensions(self) -> frozenset[str]:
        """Extensions accepted: UPLOAD_ALLOWED_EXTENSIONS, else everything Webflow accepts."""
        return allowed_extensions(self.upload_allowed_extensions)

    @property
    def api_keys(self) -> list[str]:
        """Accepted API keys: UPLOAD_API_KEYS (CREATE_ITEMS_API_KEYS stands in only in a local run)."""
        return api_keys_of(self.upload_api_keys, self.create_items_api_keys)


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
            generation=_event_int(data, "generation"),
            component_count=_event_int(data, "componentCount"),
            event_time=when,
            event_id=event_id,
        )


def _event_int(data: Mapping[str, Any], key: str) -> int | None:
    """An integer of the event data (Cloud Storage writes int64 as strings); malformed is permanent."""
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PermanentUploadError(f"event data has a malformed {key}: {value!r}") from None


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


@dataclasses.dataclass(frozen=True)
class Target:
    """The item field an asset goes into."""

    collection: str  # id or slug
    field: str
    item_id: str | None = None
    item_slug: str | None = None


# -- pure checks --------------------------------------------------------------------------------


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
    if ext not in allowed_extensions:
        raise PermanentUploadError(f"extension .{ext} is not allowed")
    reported = normalized_content_type(info.content_type)
    if not content_type_fits(ext, reported):
        raise PermanentUploadError(f"content type {reported} does not match extension .{ext}")
    limit = size_limit(ext, image_input_bytes)
    if info.size > limit:
        kind = "this image type" if ext in INPUT_IMAGE_TYPES else "documents"
        raise PermanentUploadError(
            f"{info.size} bytes is over the {limit / (1024 * 1024):g} MB limit for {kind}"
        )
    if info.size == 0:
        raise PermanentUploadError("the object is empty")
    return FILE_TYPES[ext][0] if reported in UNTYPED_CONTENT_TYPES else reported


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


def _display_name(file_name: str) -> str:
    """A human item name from a file name: "summer_beach-01.jpg" -> "Summer beach 01"."""
    stem = posixpath.basename(file_name).rpartition(".")[0] or file_name
    words = re.sub(r"[-_.\s]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled"


# -- the pipeline -------------------------------------------------------------------------------


def process_object(
    ref: ObjectRef,
    settings: UploadSettings,
    *,
    client: WebflowClient | None = None,
    storage: Storage | None = None,
    now: dt.datetime | None = None,
) -> UploadOutcome:
    """Turn one object generation into a Webflow asset (and attach it) exactly once.

    Returns:
        The outcome of every acknowledged case (uploaded, already processed, ignored, stale, rejected).

    Raises:
        ClaimBusyError: another delivery is working on the object; retry later.
        StorageError, WebflowError: transient failures, after the claim was released.
    """
    outcome = UploadOutcome(
        status="ignored", bucket=ref.bucket, name=ref.name, generation=ref.generation
    )
    prefix = _handled_prefix(ref, settings, now, outcome)
    if prefix is None:
        return outcome
    if not settings.webflow_site_id:
        raise ConfigError("WEBFLOW_SITE_ID is required")

    storage = storage or _default_storage(settings)
    ledger = ledger_for(storage)
    info = ledger.read(ref.bucket, ref.name)
    if info is None:
        outcome.status, outcome.reason = "stale", "the object no longer exists"
        logger.info("object gone, nothing to do", extra=_log_fields(outcome))
        return outcome
    generation = ref.generation if ref.generation is not None else info.generation
    outcome.generation = generation
    if info.generation != generation:
        outcome.status, outcome.reason = "stale", f"superseded by generation {info.generation}"
        logger.info("object replaced since the event, nothing to do", extra=_log_fields(outcome))
        return outcome
    # A composite object has no MD5 of its own (Cloud Storage reports componentCount instead); the event's
    # word counts too, since fake-gcs-server gives composed objects an md5Hash and no componentCount.
    composite = ref.component_count is not None or info.component_count is not None
    known_md5 = None if composite else info.md5_hex
    done = _already_done(info, generation, outcome)
    if done is not None:
        return done

    try:
        content_type = check_object(
            info, settings.allowed_extensions, settings.image_max_input_bytes
        )
        _check_target(info, prefix, settings)
    except PermanentUploadError as exc:
        ledger.record_error(info, str(exc))
        outcome.status, outcome.reason = "rejected", str(exc)
        logger.warning("object rejected: %s", exc, extra=_log_fields(outcome))
        return outcome

    try:
        info, claim = ledger.claim(info, uuid.uuid4().hex[:16], settings.upload_claim_ttl_seconds)
    except ClaimBusyError:
        latest = ledger.read(ref.bucket, ref.name)
        if latest is not None and latest.generation == generation:
            done = _already_done(latest, generation, outcome)
            if done is not None:
                return done
        logger.info(
            "another delivery is working on the object; retry later", extra=_log_fields(outcome)
        )
        raise

    try:
        _process_claimed(
            client or _default_client(settings),
            storage,
            ledger,
            info,
            claim,
            prefix,
            content_type,
            known_md5,
            settings,
            outcome,
        )
    except BaseException as exc:
        _release_quietly(ledger, info, claim, exc)
        raise
    return outcome


def _handled_prefix(
    ref: ObjectRef, settings: UploadSettings, now: dt.datetime | None, outcome: UploadOutcome
) -> str | None:
    """The configured prefix the object falls under, or None (``outcome`` then says why it is
    ignored or stale): another bucket, outside the prefixes, or an event too old."""
    if settings.upload_bucket and ref.bucket != settings.upload_bucket:
        outcome.reason = f"not the configured bucket {settings.upload_bucket}"
        logger.info("object ignored", extra=_log_fields(outcome))
        return None
    prefix = matches_prefix(ref.name, settings.prefixes)
    if prefix is None:
        outcome.reason = "outside the configured prefixes"
        logger.debug("object ignored", extra=_log_fields(outcome))
        return None
    if ref.event_time is not None:
        age = ((now or dt.datetime.now(dt.UTC)) - ref.event_time).total_seconds()
        if age > settings.max_event_age_seconds:
            outcome.status, outcome.reason = "stale", f"event is {int(age)} s old"
            logger.warning("event too old, dropped", extra=_log_fields(outcome))
            return None
    return prefix


def _process_claimed(
    client: WebflowClient,
    storage: Storage,
    ledger: Ledger,
    info: ObjectInfo,
    claim: Claim,
    prefix: str,
    content_type: str,
    known_md5: str | None,
    settings: UploadSettings,
    outcome: UploadOutcome,
) -> None:
    """Upload, attach and record, holding the claim; permanent failures are recorded and acknowledged."""
    try:
        prepared = _prepare(storage, info, settings) if _is_raster(info) else None
        asset_id, hosted_url, info = _upload(
            client, storage, ledger, info, claim, content_type, known_md5, settings, prepared
        )
    except PermanentUploadError as exc:
        ledger.record_error(info, str(exc), claim)
        outcome.status, outcome.reason = "rejected", str(exc)
        logger.warning("object rejected: %s", exc, extra=_log_fields(outcome))
        return
    outcome.asset_id, outcome.hosted_url = asset_id, hosted_url
    try:
        ingested = _attach(client, info, prefix, asset_id, hosted_url, settings, outcome)
    except PermanentUploadError as exc:
        # The asset exists and stays recorded: a redelivery must not upload it again.
        ledger.record_success(info, claim, asset_id, hosted_url, error=str(exc))
        outcome.status, outcome.reason = "rejected", str(exc)
        logger.warning("asset uploaded but not attached: %s", exc, extra=_log_fields(outcome))
        return
    extra = {META_INGESTED_ITEM: outcome.item_id} if ingested and outcome.item_id else {}
    extra |= _prepared_metadata(prepared)
    ledger.record_success(info, claim, asset_id, hosted_url, extra=extra)
    outcome.status = "uploaded"
    logger.info("asset uploaded", extra=_log_fields(outcome))


def _already_done(
    info: ObjectInfo, generation: int, outcome: UploadOutcome
) -> UploadOutcome | None:
    """The outcome for a generation the ledger already settled, else None."""
    if info.processed(generation):
        outcome.status = "already_processed"
        outcome.asset_id, outcome.hosted_url = info.meta(META_ASSET_ID), info.meta(META_HOSTED_URL)
        outcome.reason = info.meta(META_ERROR)
        logger.info("generation already processed, nothing to do", extra=_log_fields(outcome))
        return outcome
    if info.failed(generation):
        outcome.status, outcome.reason = "rejected", info.meta(META_ERROR)
        logger.info("generation already rejected, nothing to do", extra=_log_fields(outcome))
        return outcome
    return None


def _release_quietly(ledger: Ledger, info: ObjectInfo, claim: Claim, cause: BaseException) -> None:
    """Release the claim after a failure; a failed release only delays the retry until the claim lapses."""
    try:
        ledger.release(info, claim)
    except Exception as exc:  # noqa: BLE001 - the original failure is what the caller must see
        logger.warning(
            "could not release the claim: %s", exc, extra={"cause": type(cause).__name__}
        )


def _permanent_webflow(exc: WebflowAPIError) -> bool:
    """True for a Webflow answer that retrying cannot change (bad request, not found, conflict)."""
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return False  # a token problem: fix it and the platform's retries still deliver the event
    return 400 <= exc.status_code < 500 and exc.status_code not in (408, 429)


# -- upload ---------------------------------------------------------------------------------------


def _hash_while_streaming(storage: Storage, info: ObjectInfo) -> str:
    """The MD5 hex of an object that has none (a composite), in one streaming pass."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for chunk in storage.iter_chunks(info):
        digest.update(chunk)
        size += len(chunk)
    if size != info.size:
        raise StorageError(
            f"read {size} bytes of gs://{info.bucket}/{info.name}, expected {info.size}"
        )
    logger.info(
        "composite object hashed while streaming", extra={"object": info.name, "bytes": size}
    )
    return digest.hexdigest()


def _is_raster(info: ObjectInfo) -> bool:
    """Images go through shared/uploads/imaging.py (SVG for its checks); documents stream as they are."""
    return extension_of(info.name) in INPUT_IMAGE_TYPES


def _prepare(storage: Storage, info: ObjectInfo, settings: UploadSettings) -> PreparedImage:
    """The object's bytes (at most IMAGE_MAX_INPUT_BYTES, checked before) made web-ready.

    Raises:
        PermanentUploadError: the image is refused (its reason recorded in ``webflow-error``).
    """
    from shared.uploads.imaging import ImageRefused, prepare_image, scan_clean_image

    limits = settings.image_limits()
    extension = extension_of(info.name)
    # Small enough to hold: read once, scanned, and sent from memory if clean.
    small = info.size <= min(limits.max_bytes, READ_ONCE_BYTES)
    held = _read_whole(storage, info) if small else None
    clean = None
    if held is not None:
        clean = scan_clean_image((held,), extension, limits)
    elif info.size <= limits.max_bytes:
        # Most images need nothing: told from their structure as they stream by, without Pillow.
        with contextlib.closing(storage.iter_chunks(info)) as chunks:
            clean = scan_clean_image(chunks, extension, limits)
    if clean is not None:
        if clean.size != info.size:
            raise StorageError(f"read {clean.size} bytes of gs://{info.bucket}/{info.name}")
        logger.info(
            "image already web-ready",
            extra={"object": info.name, "dimensions": f"{clean.width}x{clean.height}"},
        )
        return dataclasses.replace(clean, held=held)
    data = held if held is not None else _read_whole(storage, info)
    try:
        prepared = prepare_image(data, extension, limits)
    except ImageRefused as exc:
        raise PermanentUploadError(str(exc)) from None
    logger.info(
        "image prepared",
        extra={
            "object": info.name,
            "bytesIn": info.size,
            "bytesOut": prepared.size,
            "dimensions": f"{prepared.width}x{prepared.height}",
            "prepared": prepared.describe(),
        },
    )
    return prepared


def _read_whole(storage: Storage, info: ObjectInfo) -> bytes:
    """The object's bytes, all of them (a short read is a transient failure)."""
    data = b"".join(storage.iter_chunks(info))
    if len(data) != info.size:
        raise StorageError(f"read {len(data)} bytes of gs://{info.bucket}/{info.name}")
    return data


def _prepared_metadata(prepared: PreparedImage | None) -> dict[str, str]:
    if prepared is None:
        return {}
    return {
        META_UPLOADED: prepared.describe()[:512],
        META_UPLOADED_MD5: prepared.md5,
        META_UPLOADED_SIZE: str(prepared.size),
        META_UPLOADED_DIMENSIONS: f"{prepared.width}x{prepared.height}",
    }


def _upload(
    client: WebflowClient,
    storage: Storage,
    ledger: Ledger,
    info: ObjectInfo,
    claim: Claim,
    content_type: str,
    known_md5: str | None,
    settings: UploadSettings,
    prepared: PreparedImage | None = None,
) -> tuple[str, str | None, ObjectInfo]:
    """Create (or reuse) the asset and send the bytes (the prepared image's, else the object's,
    streamed); return its id, hosted URL and the ledger's state."""
    site_id = settings.webflow_site_id
    assert site_id is not None
    pending = info.pending_asset_id(claim.generation)
    if pending:
        reused = _reusable_asset(client, pending)
        if reused is not None:
            logger.info(
                "reusing the asset created by an earlier attempt", extra={"assetId": pending}
            )
            return reused.id, reused.hosted_url, info
    file_name = sanitize_file_name(info.name)
    if prepared is not None:
        md5_hex = prepared.md5
        if prepared.derived:
            stem = file_name.rpartition(".")[0] or file_name
            file_name = sanitize_file_name(f"{stem}.{prepared.extension}")
            content_type = prepared.content_type
    else:
        md5_hex = known_md5 or _hash_while_streaming(storage, info)
    try:
        upload = client.create_asset(
            site_id, file_name, md5_hex, parent_folder=settings.upload_asset_folder
        )
    except WebflowAPIError as exc:
        if _permanent_webflow(exc):
            raise PermanentUploadError(f"Webflow refused the asset: {exc.message}") from exc
        raise
    # Recorded before the bytes go out: a retry after a crash reuses this asset instead of making another.
    info = ledger.record_pending_asset(info, claim, upload.id)
    in_memory = prepared.in_memory if prepared is not None else None
    if in_memory is not None:
        _send_prepared(client, upload, in_memory, content_type)
    else:
        _send_bytes(client, storage, info, upload, content_type)
    return upload.id, upload.hosted_url or upload.asset_url, info


def _send_prepared(
    client: WebflowClient, upload: AssetUpload, data: bytes, content_type: str
) -> None:
    """Send an image held in memory (derived, or a small original) into the presigned POST."""
    import io

    try:
        client.upload_to_presigned(upload, io.BytesIO(data), len(data), content_type)
    except WebflowAPIError as exc:
        if _permanent_webflow(exc):
            raise PermanentUploadError(f"the upload was refused: {exc.message}") from exc
        raise


def _send_bytes(
    client: WebflowClient,
    storage: Storage,
    info: ObjectInfo,
    upload: AssetUpload,
    content_type: str,
) -> None:
    """Stream the object from Cloud Storage into the presigned POST."""
    with storage.open(info) as reader:
        try:
            client.upload_to_presigned(upload, reader, info.size, content_type)
        except WebflowAPIError as exc:
            if _permanent_webflow(exc):
                raise PermanentUploadError(f"the upload was refused: {exc.message}") from exc
            raise


def _reusable_asset(client: WebflowClient, asset_id: str) -> Asset | None:
    """The earlier attempt's asset when its bytes arrived; otherwise delete it (best effort) and None."""
    import httpx

    from shared.webflow.tls import tls_context

    try:
        asset = client.get_asset(asset_id)
    except NotFoundError:
        return None
    url = asset.hosted_url
    if url:
        try:
            # Only the status line matters; the body is never read.
            with httpx.stream(
                "GET", url, timeout=10.0, follow_redirects=True, verify=tls_context()
            ) as response:
                arrived = response.status_code < 300
        except httpx.HTTPError as exc:
            raise WebflowConnectionError(f"could not check the hosted asset {url}: {exc}") from exc
        if arrived:
            return asset
    try:
        client.delete_asset(asset_id)
    except WebflowAPIError as exc:
        logger.warning("could not delete an incomplete asset: %s", exc, extra={"assetId": asset_id})
    return None


# -- attach ---------------------------------------------------------------------------------------


def _image_value(asset_id: str, hosted_url: str | None, alt: str | None) -> dict[str, Any]:
    """An Image / File field value."""
    value: dict[str, Any] = {"fileId": asset_id, "url": hosted_url}
    if alt:
        value["alt"] = alt
    return value


def _attach(
    client: WebflowClient,
    info: ObjectInfo,
    prefix: str,
    asset_id: str,
    hosted_url: str | None,
    settings: UploadSettings,
    outcome: UploadOutcome,
) -> bool:
    """Set the named item's field to the asset, or create an item in the ingest collection.

    Returns:
        True when the object named no item and an item was created for it.
    """
    alt = info.meta(META_ALT)
    target = target_from_metadata(info) or parse_target_path(info.name, prefix)
    value = _image_value(asset_id, hosted_url, alt)
    if target is not None:
        collection = _resolve_collection(client, target.collection, settings.webflow_site_id)
        if collection.id not in settings.attachable_collections:
            raise _not_attachable(collection.id)
        _set_field(client, collection, target, value, extension_of(info.name), outcome)
        return False
    if not settings.ingest_collection_id:
        return False
    _ingest(
        client, settings.ingest_collection_id, settings.ingest_image_field, info, value, outcome
    )
    return True


def _not_attachable(collection: str) -> PermanentUploadError:
    return PermanentUploadError(
        f"collection {collection} is not one upload-asset attaches to (UPLOAD_COLLECTION_IDS)"
    )


def _check_target(info: ObjectInfo, prefix: str, settings: UploadSettings) -> None:
    """Refuse, before anything is uploaded, a malformed item id or a collection id not allowed.

    A collection named by slug is checked once resolved, in :func:`_attach`.
    """
    target = target_from_metadata(info) or parse_target_path(info.name, prefix)
    if target is not None and target.item_id is not None and not is_item_id(target.item_id):
        raise PermanentUploadError(f"{META_ITEM_ID} is not a Webflow id")
    if (
        target is not None
        and is_item_id(target.collection)
        and target.collection not in settings.attachable_collections
    ):
        raise _not_attachable(target.collection)


def _resolve_collection(client: WebflowClient, key: str, site_id: str | None) -> Collection:
    """A collection by id, or by slug among the site's collections."""
    if is_item_id(key):
        try:
            return client.get_collection(key)
        except NotFoundError:
            pass
    if site_id:
        for collection in client.list_collections(site_id):
            if collection.slug == key or collection.id == key:
                return client.get_collection(collection.id)
    raise PermanentUploadError(f"no collection {key!r}")


def _set_field(
    client: WebflowClient,
    collection: Collection,
    target: Target,
    value: dict[str, Any],
    ext: str,
    outcome: UploadOutcome,
) -> None:
    """Write the asset into the item's Image (replace), MultiImage (append) or File field."""
    field = collection.field(target.field)
    numbered = re.fullmatch(r"(.+)-\d+", target.field)
    if field is None and numbered:
        # create-items names a MultiImage field's second file <field>-2.<ext>, and so on.
        field = collection.field(numbered.group(1))
    if field is None:
        raise PermanentUploadError(f"collection {collection.id} has no field {target.field!r}")
    if field.type not in FILE_FIELD_TYPES:
        raise PermanentUploadError(
            f"field {target.field!r} is a {field.type} field, not Image, MultiImage or File"
        )
    if ext not in extensions_for(field.type):
        raise PermanentUploadError(
            f"a .{ext} file cannot go into the {field.type} field {target.field!r}"
        )
    item = _find_item(client, collection.id, target)
    new_value: Any = value
    if field.type == "MultiImage":
        current = [v for v in (item.field_data.get(field.slug) or []) if isinstance(v, dict)]
        if _holds_file(current, value["fileId"]):
            new_value = None  # appended by an earlier attempt
        else:
            new_value = [*current, value]
    outcome.item_id, outcome.collection_id, outcome.field = item.id, collection.id, field.slug
    if new_value is not None:
        _update_item(client, collection.id, item.id, {field.slug: new_value})


def _find_item(client: WebflowClient, collection_id: str, target: Target) -> Item:
    """The staged item the target names."""
    if target.item_id:
        try:
            return client.get_item(collection_id, target.item_id)
        except NotFoundError as exc:
            raise PermanentUploadError(
                f"no item {target.item_id} in collection {collection_id}"
            ) from exc
    assert target.item_slug is not None
    item = client.find_item_by_slug(collection_id, target.item_slug)
    if item is None:
        raise PermanentUploadError(
            f"no item with slug {target.item_slug!r} in collection {collection_id}"
        )
    return item


def _update_item(
    client: WebflowClient, collection_id: str, item_id: str, field_data: dict[str, Any]
) -> None:
    """Patch one staged item through the shared update code; a refused patch is permanent."""
    from shared.cms.updates import ItemPatch, UpdateItemsRequest, update_items

    request = UpdateItemsRequest(items=[ItemPatch(id=item_id, field_data=field_data)])
    (result,) = update_items(client, collection_id, request, [field_data]).results
    if result.status == "updated":
        return
    error = result.error
    message = error.message if error is not None else result.status
    status = error.status_code if error is not None else None
    unavailable = error is not None and error.code == "upstream_unavailable"
    if unavailable or (status is not None and (status >= 500 or status in (401, 403, 408, 429))):
        # A per-item failure the update code reported instead of raising: retryable.
        raise WebflowConnectionError(f"Webflow failed to update the item: {message}")
    raise PermanentUploadError(f"Webflow refused to update item {item_id}: {message}")


def _ingest(
    client: WebflowClient,
    collection_id: str,
    image_field: str,
    info: ObjectInfo,
    value: dict[str, Any],
    outcome: UploadOutcome,
) -> None:
    """Create an item for the file in the ingest collection through the shared create path.

    That path settles slug collisions by content: an item with the same name and file (a retry after a
    crash, since the asset is reused) is "existing", anything else moves to the next free -N slug.
    """
    from shared.cms.items import Prepared, send_items
    from shared.webflow.models import NewItem

    collection = client.get_collection(collection_id)
    field = collection.field(image_field)
    ext = extension_of(info.name)
    if field is None or field.type not in FILE_FIELD_TYPES:
        raise PermanentUploadError(
            f"ingest collection {collection_id} has no Image field {image_field!r}"
        )
    if ext not in extensions_for(field.type):
        raise PermanentUploadError(
            f"a .{ext} file cannot go into the {field.type} field {field.slug!r}"
        )
    base_slug = slugify(posixpath.basename(info.name).rpartition(".")[0]) or "file"
    stored = [value] if field.type == "MultiImage" else value
    item = NewItem(
        field_data={"name": _display_name(info.name), "slug": base_slug, field.slug: stored},
        is_draft=False,
    )
    outcome.collection_id, outcome.field = collection_id, field.slug
    (result,), _retry_after = send_items(
        client, collection_id, [Prepared(0, item, base_slug)], live=False
    )
    if result.status in ("created", "existing") and result.id:
        outcome.item_id = result.id
        return
    error = result.error
    # Unavailable, or created-but-unconfirmed: a redelivery settles it (the slug finds the item).
    if error is not None and is_transient(error):
        raise WebflowConnectionError(f"Webflow failed to create the gallery item: {error.message}")
    raise PermanentUploadError(
        f"Webflow refused the gallery item: {error.message if error is not None else result.status}"
    )


def _holds_file(value: Any, file_id: str) -> bool:
    """True when an Image / MultiImage / File value refers to file_id."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, dict) and v.get("fileId") == file_id for v in values)


# -- defaults -------------------------------------------------------------------------------------


def _default_storage(settings: UploadSettings) -> Storage:
    """The instance's Storage."""
    from shared.core.storage import get_storage

    storage = get_storage()
    storage.chunk_size = settings.upload_chunk_size_bytes
    storage.retry_seconds = settings.storage_retry_seconds
    return storage


def _default_client(settings: UploadSettings) -> WebflowClient:
    """The instance's WebflowClient."""
    from shared.webflow import get_client

    return get_client(settings)


def _log_fields(outcome: UploadOutcome) -> dict[str, Any]:
    """Structured log fields for an outcome."""
    return {"upload": outcome.to_json()}
