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
import uuid
from typing import TYPE_CHECKING, Any

from shared.core.config import ConfigError
from shared.core.filetypes import (
    DOCUMENT_TYPES,
    IMAGE_TYPES,
    INPUT_IMAGE_TYPES,
    MAX_DOCUMENT_BYTES,
    MAX_IMAGE_BYTES,
    extension_of,
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
)
from shared.uploads.attach import META_INGESTED_ITEM, attach_asset, check_target
from shared.uploads.ledger import Ledger, ledger_for
from shared.uploads.settings import UploadSettings
from shared.uploads.targets import (
    ObjectRef,
    PermanentUploadError,
    UploadOutcome,
    check_object,
    matches_prefix,
    parse_target_path,
    sanitize_file_name,
)
from shared.webflow.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    WebflowAPIError,
    WebflowConnectionError,
)

if TYPE_CHECKING:
    from shared.uploads.imaging import PreparedImage
    from shared.webflow import WebflowClient
    from shared.webflow.models import Asset, AssetUpload

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

# What went to Webflow for an image: "original" or what was done to it, and that file's MD5,
# size in bytes and dimensions (WxH), so that a redelivery neither prepares nor uploads again.
META_UPLOADED = "webflow-uploaded"
META_UPLOADED_MD5 = "webflow-uploaded-md5"
META_UPLOADED_SIZE = "webflow-uploaded-size"
META_UPLOADED_DIMENSIONS = "webflow-uploaded-dimensions"


# -- pure checks --------------------------------------------------------------------------------


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
        content_type = check_object(info, settings.file_extensions, settings.image_max_input_bytes)
        check_target(info, prefix, settings)
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
        ingested = attach_asset(client, info, prefix, asset_id, hosted_url, settings, outcome)
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
