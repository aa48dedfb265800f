"""Cloud Storage access for the upload pipeline, and what its ledger writes in object metadata.

The ledger (shared/uploads/ledger.py) lives in each object's own custom metadata:

- ``webflow-claim``: ``"<generation>:<claim id>:<expiry unix ts>"`` while a delivery works on the object;
- ``webflow-generation``: the generation the ledger entries below refer to;
- ``webflow-pending-asset-id``: the asset created for that generation, written before its bytes are sent,
  so a retry after a crash reuses it instead of creating a second one;
- ``webflow-asset-id`` / ``webflow-hosted-url``: the finished upload;
- ``webflow-error``: a permanent failure (the event is acknowledged, never retried).

fake-gcs-server (v1.54, the emulator used locally) mints a new *generation* on every metadata patch:
when emulated, an object's generation is read from the ledger's ``webflow-generation``.
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
from collections.abc import Generator, Iterator, Mapping
from typing import IO, Any, BinaryIO, cast

from shared.core.log import google_project

__all__ = [
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

DEFAULT_CHUNK_SIZE = 256 * 1024
DEFAULT_RETRY_SECONDS = 30.0


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
    """Cloud Storage reads and metadata writes for the upload pipeline; one per instance.

    The ledger's rules (claims, records) are shared/uploads/ledger.py's; this class only talks to Cloud
    Storage.
    """

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
        with storage_errors(f"reading gs://{bucket}/{name}"):
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
        with storage_errors(f"opening gs://{info.bucket}/{info.name}"):
            reader = blob.open("rb", chunk_size=chunk_size or self.chunk_size, retry=self.retry)
        try:
            yield cast(BinaryIO, _WrappedReader(reader, f"gs://{info.bucket}/{info.name}"))
        finally:
            with contextlib.suppress(Exception):
                reader.close()

    def iter_chunks(
        self, info: ObjectInfo, *, chunk_size: int | None = None
    ) -> Generator[bytes, None, None]:
        """Yield the object's bytes chunk by chunk (close the generator to stop early)."""
        size = chunk_size or self.chunk_size
        with self.open(info, chunk_size=size) as reader:
            while chunk := reader.read(size):
                yield chunk

    # -- metadata writes ------------------------------------------------------------------------

    def patch_metadata(
        self,
        info: ObjectInfo,
        changes: Mapping[str, str | None],
        *,
        if_metageneration_match: int,
        if_generation_match: int | None = None,
        what: str,
    ) -> ObjectInfo:
        """Merge metadata changes (None removes a key) under Cloud Storage's preconditions.

        Raises:
            ClaimBusyError: 412, a precondition failed (the object changed since it was read).
            StorageError: Cloud Storage failed.
        """
        from google.api_core import exceptions as gexc

        blob = self._blob(info.bucket, info.name)
        blob.metadata = dict(changes)
        conditions = {"if_metageneration_match": if_metageneration_match}
        if if_generation_match is not None:
            conditions["if_generation_match"] = if_generation_match
        try:
            with storage_errors(
                f"{what} on gs://{info.bucket}/{info.name}", passthrough=(gexc.PreconditionFailed,)
            ):
                blob.patch(**conditions, retry=self.retry)
        except gexc.PreconditionFailed as exc:
            raise ClaimBusyError(f"gs://{info.bucket}/{info.name} changed while {what}") from exc
        return self._info(blob)


def not_found_error() -> type[Exception]:
    """google.api_core's NotFound, imported lazily."""
    from google.api_core import exceptions as gexc

    return gexc.NotFound


@contextlib.contextmanager
def storage_errors(what: str, passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
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
        with storage_errors(f"reading {self._where}"):
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
        with storage_errors(f"seeking in {self._where}"):
            return int(self._reader.seek(offset, whence))

    def close(self) -> None:
        """Close the underlying reader."""
        self._reader.close()


@functools.cache
def get_storage() -> Storage:
    """The instance's Storage (one client per process); ``get_storage.cache_clear()`` resets it."""
    return Storage()
