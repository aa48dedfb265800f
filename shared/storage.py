"""Cloud Storage access and the object-metadata ledger that makes uploads exactly-once.

The ledger lives in each object's own custom metadata:

- ``webflow-claim``: ``"<generation>:<claim id>:<expiry unix ts>"`` while a delivery works on the object;
- ``webflow-generation``: the generation the ledger entries below refer to;
- ``webflow-pending-asset-id``: the asset created for that generation, written before its bytes are sent,
  so a retry after a crash reuses it instead of creating a second one;
- ``webflow-asset-id`` / ``webflow-hosted-url``: the finished upload;
- ``webflow-error``: a permanent failure (the event is acknowledged, never retried).

Against Cloud Storage every ledger write carries an ``ifMetagenerationMatch`` precondition, so two deliveries
racing for one object cannot both claim it. fake-gcs-server (v1.54, the emulator used locally) ignores
that precondition on metadata patches, never moves ``metageneration`` off 1 and mints a new *generation* on
every patch instead; it does honour ``ifGenerationMatch`` on multipart uploads. When emulated, a claim
therefore also creates a marker object with ``ifGenerationMatch=0`` (a real create-if-absent) in a
bucket of its own, ``<bucket>-webflow-claims`` (kept out of the watched bucket, where it would look like an
upload), and the object's generation is read from the ledger's ``webflow-generation``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import functools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any, BinaryIO, cast

from shared.log import google_project

__all__ = [
    "CLAIM_BUCKET_SUFFIX",
    "META_ASSET_ID",
    "META_CLAIM",
    "META_ERROR",
    "META_GENERATION",
    "META_HOSTED_URL",
    "META_PENDING_ASSET",
    "Claim",
    "ClaimBusyError",
    "ObjectInfo",
    "Storage",
    "StorageError",
    "get_storage",
    "parse_time",
]

META_CLAIM = "webflow-claim"
META_GENERATION = "webflow-generation"
META_PENDING_ASSET = "webflow-pending-asset-id"
META_ASSET_ID = "webflow-asset-id"
META_HOSTED_URL = "webflow-hosted-url"
META_ERROR = "webflow-error"

CLAIM_BUCKET_SUFFIX = "-webflow-claims"
DEFAULT_CHUNK_SIZE = 256 * 1024
DEFAULT_RETRY_SECONDS = 30.0
_MAX_ERROR_LENGTH = 1024


class StorageError(Exception):
    """A Cloud Storage call failed in a way worth retrying (network, 5xx, 429)."""


class ClaimBusyError(Exception):
    """Another delivery holds a live claim on the object, or won the race to write one."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One delivery's claim on one generation of an object."""

    generation: int
    claim_id: str
    expires_at: float

    def encode(self) -> str:
        """The metadata value, ``"<generation>:<claim id>:<expiry>"``."""
        return f"{self.generation}:{self.claim_id}:{int(self.expires_at)}"

    @classmethod
    def parse(cls, value: str | None) -> Claim | None:
        """Parse a metadata value; None when absent or malformed."""
        if not value:
            return None
        parts = value.split(":")
        if len(parts) != 3:
            return None
        try:
            return cls(generation=int(parts[0]), claim_id=parts[1], expires_at=float(parts[2]))
        except ValueError:
            return None

    def expired(self, now: float | None = None) -> bool:
        """True once the claim's holder is presumed dead."""
        return (time.time() if now is None else now) >= self.expires_at


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """What the ledger needs to know about one object, as Cloud Storage reports it."""

    bucket: str
    name: str
    generation: int
    metageneration: int
    size: int
    content_type: str | None = None
    md5_hash: str | None = None
    crc32c: str | None = None
    component_count: int | None = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    time_created: dt.datetime | None = None
    updated: dt.datetime | None = None
    stored_generation: int | None = None

    def meta(self, key: str) -> str | None:
        """A custom metadata value; empty strings count as absent (the emulator cannot delete keys)."""
        value = self.metadata.get(key)
        return value or None

    @property
    def md5_hex(self) -> str | None:
        """The MD5 digest in hex, decoded from the base64 md5Hash; None for composite objects."""
        if not self.md5_hash:
            return None
        try:
            return base64.b64decode(self.md5_hash, validate=True).hex()
        except (binascii.Error, ValueError):
            return None

    @property
    def claim(self) -> Claim | None:
        """The current claim, if any."""
        return Claim.parse(self.meta(META_CLAIM))

    @property
    def ledger_generation(self) -> int | None:
        """The generation the ledger entries refer to."""
        try:
            value = self.meta(META_GENERATION)
            return int(value) if value else None
        except ValueError:
            return None

    def processed(self, generation: int) -> bool:
        """True when this generation was already uploaded."""
        return self.ledger_generation == generation and self.meta(META_ASSET_ID) is not None

    def failed(self, generation: int) -> bool:
        """True when a permanent failure is recorded for this generation."""
        return self.ledger_generation == generation and self.meta(META_ERROR) is not None

    def pending_asset_id(self, generation: int) -> str | None:
        """The asset created for this generation before a crash, if any."""
        if self.ledger_generation != generation:
            return None
        return self.meta(META_PENDING_ASSET)

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any], *, emulated: bool = False) -> ObjectInfo:
        """Build from a JSON API object resource (or an Eventarc storage event's data)."""
        metadata = {
            str(k): "" if v is None else str(v) for k, v in (resource.get("metadata") or {}).items()
        }
        stored = int(resource.get("generation") or 0)
        generation = stored
        if emulated:
            # Patches on the emulator mint generations; the ledger remembers the uploaded one.
            recorded = metadata.get(META_GENERATION)
            if recorded and recorded.isdigit():
                generation = int(recorded)
        count = resource.get("componentCount")
        return cls(
            bucket=str(resource.get("bucket") or ""),
            name=str(resource.get("name") or ""),
            generation=generation,
            metageneration=int(resource.get("metageneration") or 0),
            size=int(resource.get("size") or 0),
            content_type=resource.get("contentType") or None,
            md5_hash=resource.get("md5Hash") or None,
            crc32c=resource.get("crc32c") or None,
            component_count=int(count) if count else None,
            metadata=metadata,
            time_created=parse_time(resource.get("timeCreated")),
            updated=parse_time(resource.get("updated")),
            stored_generation=stored,
        )


def parse_time(value: Any) -> dt.datetime | None:
    """Parse an RFC 3339 timestamp (or pass a datetime through), UTC when it names no zone.

    None when absent or malformed.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif not value:
        return None
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _is_emulated() -> bool:
    """True when google-cloud-storage is pointed at an emulator."""
    return bool(os.environ.get("STORAGE_EMULATOR_HOST"))


class Storage:
    """Cloud Storage reads and ledger writes for the upload pipeline; one per instance."""

    def __init__(
        self,
        client: Any | None = None,
        *,
        project: str | None = None,
        emulated: bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self._client = client
        self.retry_seconds = retry_seconds
        self._project = project
        self._lock = threading.Lock()
        self.emulated = _is_emulated() if emulated is None else emulated
        self._claim_buckets: set[str] = set()
        self.chunk_size = chunk_size

    @property
    def client(self) -> Any:
        """The google.cloud.storage.Client, created on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    @property
    def retry(self) -> Any:
        """google-api-core's default Cloud Storage retry, bounded by retry_seconds overall."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return DEFAULT_RETRY.with_timeout(self.retry_seconds)

    def _make_client(self) -> Any:
        """Build the client: anonymous with a fixed project when emulated, default credentials otherwise."""
        from google.cloud import storage

        project = self._project or google_project()
        if self.emulated:
            from google.auth.credentials import AnonymousCredentials

            return storage.Client(project=project or "local", credentials=AnonymousCredentials())
        return storage.Client(project=project)

    def _blob(self, bucket: str, name: str, generation: int | None = None) -> Any:
        """A Blob handle (no request made)."""
        return self.client.bucket(bucket).blob(name, generation=generation)

    # -- reads --------------------------------------------------------------------------------

    def get_object(self, bucket: str, name: str) -> ObjectInfo | None:
        """Read the live object's metadata; None when it does not exist."""
        with _wrap(f"reading gs://{bucket}/{name}"):
            blob = self.client.bucket(bucket).get_blob(name, retry=self.retry)
        if blob is None:
            return None
        return self._info(blob)

    def _info(self, blob: Any) -> ObjectInfo:
        """ObjectInfo from a Blob whose properties were loaded."""
        resource = dict(blob._properties)
        resource.setdefault("bucket", blob.bucket.name)
        resource.setdefault("name", blob.name)
        return ObjectInfo.from_resource(resource, emulated=self.emulated)

    @contextlib.contextmanager
    def open(self, info: ObjectInfo, *, chunk_size: int | None = None) -> Iterator[BinaryIO]:
        """A file-like reader over the object's bytes, fetched in ranged chunks (never the whole file)."""
        # The emulator mints a generation on every patch, so only real Cloud Storage can pin one.
        generation = None if self.emulated else info.generation
        blob = self._blob(info.bucket, info.name, generation)
        blob._properties["size"] = str(info.size)  # spares BlobReader a reload
        with _wrap(f"opening gs://{info.bucket}/{info.name}"):
            reader = blob.open("rb", chunk_size=chunk_size or self.chunk_size, retry=self.retry)
        try:
            yield cast(BinaryIO, _WrappedReader(reader, f"gs://{info.bucket}/{info.name}"))
        finally:
            with contextlib.suppress(Exception):
                reader.close()

    def iter_chunks(self, info: ObjectInfo, *, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the object's bytes chunk by chunk."""
        size = chunk_size or self.chunk_size
        with self.open(info, chunk_size=size) as reader:
            while chunk := reader.read(size):
                yield chunk

    # -- ledger writes ------------------------------------------------------------------------

    def _preconditions(self, info: ObjectInfo) -> dict[str, int]:
        """ifMetagenerationMatch, plus ifGenerationMatch so a replaced object is never written to.

        The emulator mints generations on patches (and ignores both conditions): there only the first.
        """
        conditions = {"if_metageneration_match": info.metageneration}
        if not self.emulated and info.stored_generation:
            conditions["if_generation_match"] = info.stored_generation
        return conditions

    def _patch(self, info: ObjectInfo, changes: Mapping[str, str | None], what: str) -> ObjectInfo:
        """Merge metadata changes under an ifMetagenerationMatch precondition; ClaimBusyError on 412."""
        from google.api_core import exceptions as gexc

        blob = self._blob(info.bucket, info.name)
        blob.metadata = dict(changes)
        try:
            with _wrap(
                f"{what} on gs://{info.bucket}/{info.name}", passthrough=(gexc.PreconditionFailed,)
            ):
                blob.patch(**self._preconditions(info), retry=self.retry)
        except gexc.PreconditionFailed as exc:
            raise ClaimBusyError(f"gs://{info.bucket}/{info.name} changed while {what}") from exc
        return self._info(blob)

    def claim(
        self, info: ObjectInfo, claim_id: str, ttl_seconds: float
    ) -> tuple[ObjectInfo, Claim]:
        """Claim the object's current generation for this delivery.

        Raises:
            ClaimBusyError: another live claim exists, or another delivery won the race.
            StorageError: Cloud Storage failed.
        """
        now = time.time()
        current = info.claim
        if current and current.generation == info.generation and not current.expired(now):
            raise ClaimBusyError(
                f"gs://{info.bucket}/{info.name} is claimed until {int(current.expires_at)}"
            )
        claim = Claim(
            generation=info.generation, claim_id=claim_id, expires_at=float(int(now + ttl_seconds))
        )
        if self.emulated:
            self._create_marker(info, claim, now)
        try:
            updated = self._patch(
                info,
                {META_CLAIM: claim.encode(), META_GENERATION: str(info.generation)},
                "claiming",
            )
        except ClaimBusyError:
            # A retried patch that did land answers 412 too: our own claim means we hold it.
            latest = self.get_object(info.bucket, info.name)
            if latest is not None and latest.claim == claim:
                return latest, claim
            self._delete_marker(info, claim)
            raise
        except Exception:
            self._delete_marker(info, claim)
            raise
        return updated, claim

    def record_pending_asset(self, info: ObjectInfo, claim: Claim, asset_id: str) -> ObjectInfo:
        """Remember the asset created for this generation before sending its bytes."""
        return self._patch(
            info,
            {META_PENDING_ASSET: asset_id, META_GENERATION: str(claim.generation)},
            "recording the asset",
        )

    def record_success(
        self,
        info: ObjectInfo,
        claim: Claim,
        asset_id: str,
        hosted_url: str | None,
        *,
        error: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Record the finished upload (and why it could not be attached, if so) and drop the claim."""
        changes: dict[str, str | None] = {
            **(extra or {}),
            META_ASSET_ID: asset_id,
            META_HOSTED_URL: hosted_url or "",
            META_GENERATION: str(claim.generation),
            META_CLAIM: None,
            META_PENDING_ASSET: None,
            META_ERROR: error[:_MAX_ERROR_LENGTH] if error else None,
        }
        updated = self._patch_own(info, claim, changes, "recording success")
        self._delete_marker(info, claim)
        return updated

    def record_error(self, info: ObjectInfo, reason: str, claim: Claim | None = None) -> ObjectInfo:
        """Record a permanent failure for the object's generation (and drop our claim, if any)."""
        changes: dict[str, str | None] = {
            META_ERROR: reason[:_MAX_ERROR_LENGTH],
            META_GENERATION: str(claim.generation if claim else info.generation),
        }
        if claim is not None:
            changes[META_CLAIM] = None
            changes[META_PENDING_ASSET] = None
            updated = self._patch_own(info, claim, changes, "recording an error")
            self._delete_marker(info, claim)
            return updated
        return self._patch(info, changes, "recording an error")

    def release(self, info: ObjectInfo, claim: Claim) -> None:
        """Drop our claim so a platform retry can run (best effort: a lapsed claim expires anyway)."""
        latest = self.get_object(info.bucket, info.name)
        if latest is not None and latest.claim == claim:
            # The pending asset id stays: the retry reuses it instead of creating another asset.
            self._patch(latest, {META_CLAIM: None}, "releasing the claim")
        self._delete_marker(info, claim)

    def _patch_own(
        self, info: ObjectInfo, claim: Claim, changes: Mapping[str, str | None], what: str
    ) -> ObjectInfo:
        """Patch while holding the claim: on a precondition failure re-read and retry if still ours."""
        try:
            return self._patch(info, changes, what)
        except ClaimBusyError:
            latest = self.get_object(info.bucket, info.name)
            if latest is None or latest.claim != claim:
                raise
            return self._patch(latest, changes, what)

    # -- emulator claim markers ---------------------------------------------------------------

    def claims_bucket(self, bucket: str) -> str:
        """The emulator-only bucket holding the claim markers of ``bucket`` (created on first use)."""
        from google.api_core import exceptions as gexc

        name = f"{bucket[: 63 - len(CLAIM_BUCKET_SUFFIX)]}{CLAIM_BUCKET_SUFFIX}"
        if name not in self._claim_buckets:
            with _wrap("creating the claims bucket"), contextlib.suppress(gexc.Conflict):
                self.client.create_bucket(name, retry=self.retry)
            self._claim_buckets.add(name)
        return name

    def _marker(self, info: ObjectInfo, generation: int) -> Any:
        """The emulator-only claim marker of one generation of an object."""
        return self.client.bucket(self.claims_bucket(info.bucket)).blob(f"{info.name}@{generation}")

    def _create_marker(self, info: ObjectInfo, claim: Claim, now: float) -> None:
        """Create-if-absent the marker (the emulator honours ifGenerationMatch=0 on multipart uploads)."""
        from google.api_core import exceptions as gexc

        marker = self._marker(info, claim.generation)
        for _attempt in range(2):
            try:
                with _wrap("claiming", passthrough=(gexc.PreconditionFailed,)):
                    marker.upload_from_string(
                        claim.encode(),
                        content_type="text/plain",
                        if_generation_match=0,
                        retry=self.retry,
                    )
                return
            except gexc.PreconditionFailed:
                with _wrap("reading a claim marker"):
                    existing = marker.bucket.get_blob(marker.name, retry=self.retry)
                    held = (
                        Claim.parse(existing.download_as_text()) if existing is not None else None
                    )
                if existing is not None and held is not None and not held.expired(now):
                    raise ClaimBusyError(f"gs://{info.bucket}/{info.name} is claimed") from None
                if existing is not None:
                    with _wrap("clearing a lapsed claim marker"), contextlib.suppress(_not_found()):
                        existing.delete(if_generation_match=existing.generation, retry=self.retry)
        raise ClaimBusyError(f"gs://{info.bucket}/{info.name} is claimed")

    def _delete_marker(self, info: ObjectInfo, claim: Claim) -> None:
        """Remove our marker (emulator only; best effort)."""
        if not self.emulated:
            return
        with contextlib.suppress(Exception):
            handle = self._marker(info, claim.generation)
            marker = handle.bucket.get_blob(handle.name)
            if marker is not None and Claim.parse(marker.download_as_text()) == claim:
                marker.delete()


def _not_found() -> type[Exception]:
    """google.api_core's NotFound, imported lazily."""
    from google.api_core import exceptions as gexc

    return gexc.NotFound


@contextlib.contextmanager
def _wrap(what: str, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Convert google-cloud and transport errors into StorageError, with context."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except passthrough:
        raise
    except gexc.NotFound:
        raise
    except (gexc.GoogleAPIError, OSError) as exc:
        raise StorageError(f"Cloud Storage failed while {what}: {exc}") from exc
    except Exception as exc:
        # requests' and google-resumable-media's errors do not share a base we can name cheaply.
        if type(exc).__module__.split(".")[0] in {"requests", "urllib3", "google"}:
            raise StorageError(f"Cloud Storage failed while {what}: {exc}") from exc
        raise


class _WrappedReader:
    """A read-only binary stream that turns Cloud Storage failures into StorageError."""

    def __init__(self, reader: IO[bytes], where: str) -> None:
        self._reader = reader
        self._where = where

    def read(self, size: int = -1) -> bytes:
        """Read up to size bytes."""
        with _wrap(f"reading {self._where}"):
            return self._reader.read(size)

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """True: a ranged reader can start over (the Webflow client rewinds to retry an upload)."""
        return True

    def tell(self) -> int:
        """Current position."""
        return int(self._reader.tell())

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the position; later reads fetch from there."""
        with _wrap(f"seeking in {self._where}"):
            return int(self._reader.seek(offset, whence))

    def close(self) -> None:
        """Close the underlying reader."""
        self._reader.close()


@functools.cache
def get_storage() -> Storage:
    """The instance's Storage (one client per process); ``get_storage.cache_clear()`` resets it."""
    return Storage()
