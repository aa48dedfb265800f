"""upload-asset's exactly-once ledger, behind one small interface (as powertools' idempotency
persistence layer): claim a generation, record the asset about to be uploaded, record done (or a
permanent error), release, read the state.

Two implementations, chosen in one place (:func:`ledger_for`):

- :class:`MetadataLedger`, for Cloud Storage: the ledger is the object's own custom metadata, and
  every write carries ``ifMetagenerationMatch`` (and ``ifGenerationMatch``, so a replaced object is
  never written to). Two deliveries racing for one object read the same metageneration; the first
  write bumps it, so the second gets 412 and backs off.
- :class:`MarkerLedger`, for fake-gcs-server, which ignores those preconditions on metadata
  patches (and mints a generation on each): a claim also creates a marker object with
  ``ifGenerationMatch=0`` (a create-if-absent it does honour) in a bucket of its own,
  ``<bucket>-webflow-claims``, kept out of the watched bucket, where it would look like an upload.

The design, with its failure cases, is in docs/upload-asset.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

from shared.core.storage import (
    META_ASSET_ID,
    META_CLAIM,
    META_ERROR,
    META_GENERATION,
    META_HOSTED_URL,
    META_PENDING_ASSET,
    Claim,
    ClaimBusyError,
    ObjectInfo,
    Storage,
    not_found_error,
    storage_errors,
)

__all__ = [
    "CLAIM_BUCKET_SUFFIX",
    "Ledger",
    "MarkerLedger",
    "MetadataLedger",
    "ObjectStore",
    "ledger_for",
]

CLAIM_BUCKET_SUFFIX = "-webflow-claims"
_MAX_ERROR_LENGTH = 1024


class ObjectStore(Protocol):
    """What the ledger needs of Cloud Storage (shared.core.storage.Storage, or a test's fake)."""

    def get_object(self, bucket: str, name: str) -> ObjectInfo | None:
        """The live object, or None."""
        ...

    def patch_metadata(
        self,
        info: ObjectInfo,
        changes: Mapping[str, str | None],
        *,
        if_metageneration_match: int,
        if_generation_match: int | None = None,
        what: str,
    ) -> ObjectInfo:
        """Merge metadata (None removes a key); ClaimBusyError when a precondition fails."""
        ...


class Ledger(Protocol):
    """The ledger's interface: what upload-asset's pipeline calls."""

    def read(self, bucket: str, name: str) -> ObjectInfo | None:
        """The object with its ledger state, or None when it no longer exists."""
        ...

    def claim(
        self, info: ObjectInfo, claim_id: str, ttl_seconds: float
    ) -> tuple[ObjectInfo, Claim]:
        """Claim the object's current generation for this delivery (ClaimBusyError if held)."""
        ...

    def record_pending_asset(self, info: ObjectInfo, claim: Claim, asset_id: str) -> ObjectInfo:
        """Remember the asset created for this generation before its bytes are sent."""
        ...

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
        """Record the finished upload and drop the claim."""
        ...

    def record_error(self, info: ObjectInfo, reason: str, claim: Claim | None = None) -> ObjectInfo:
        """Record a permanent failure for the generation (and drop our claim, if any)."""
        ...

    def release(self, info: ObjectInfo, claim: Claim) -> None:
        """Drop our claim so a platform retry can run (best effort)."""
        ...


class MetadataLedger:
    """The ledger in the object's metadata, every write under Cloud Storage's preconditions."""

    # Whether writes also carry ifGenerationMatch (an emulator that mints generations on patches
    # cannot take it).
    pins_generation = True

    def __init__(self, store: ObjectStore, *, clock: Any = time.time) -> None:
        self.store = store
        self._clock = clock

    def read(self, bucket: str, name: str) -> ObjectInfo | None:
        """The object with its ledger state, or None."""
        return self.store.get_object(bucket, name)

    def _patch(self, info: ObjectInfo, changes: Mapping[str, str | None], what: str) -> ObjectInfo:
        pinned = info.stored_generation if self.pins_generation else None
        return self.store.patch_metadata(
            info,
            changes,
            if_metageneration_match=info.metageneration,
            if_generation_match=pinned or None,
            what=what,
        )

    def claim(
        self, info: ObjectInfo, claim_id: str, ttl_seconds: float
    ) -> tuple[ObjectInfo, Claim]:
        """Claim the object's current generation for this delivery.

        Raises:
            ClaimBusyError: another live claim exists, or another delivery won the race.
            StorageError: Cloud Storage failed.
        """
        now = self._clock()
        current = info.claim
        if current and current.generation == info.generation and not current.expired(now):
            raise ClaimBusyError(
                f"gs://{info.bucket}/{info.name} is claimed until {int(current.expires_at)}"
            )
        claim = Claim(
            generation=info.generation, claim_id=claim_id, expires_at=float(int(now + ttl_seconds))
        )
        self._before_claim(info, claim, now)
        try:
            updated = self._patch(
                info,
                {META_CLAIM: claim.encode(), META_GENERATION: str(info.generation)},
                "claiming",
            )
        except ClaimBusyError:
            # A retried patch that did land answers 412 too: our own claim means we hold it.
            latest = self.read(info.bucket, info.name)
            if latest is not None and latest.claim == claim:
                return latest, claim
            self._after_claim(info, claim)
            raise
        except Exception:
            self._after_claim(info, claim)
            raise
        return updated, claim

    def _before_claim(self, info: ObjectInfo, claim: Claim, now: float) -> None:
        """Hook: what must hold before the claim is written (nothing against Cloud Storage)."""

    def _after_claim(self, info: ObjectInfo, claim: Claim) -> None:
        """Hook: undo :meth:`_before_claim` once the claim is given up or done."""

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
        """Record the finished upload (and why it could not be attached, if so); drop the claim."""
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
        self._after_claim(info, claim)
        return updated

    def record_error(self, info: ObjectInfo, reason: str, claim: Claim | None = None) -> ObjectInfo:
        """Record a permanent failure for the object's generation (and drop our claim, if any)."""
        changes: dict[str, str | None] = {
            META_ERROR: reason[:_MAX_ERROR_LENGTH],
            META_GENERATION: str(claim.generation if claim else info.generation),
        }
        if claim is None:
            return self._patch(info, changes, "recording an error")
        changes[META_CLAIM] = None
        changes[META_PENDING_ASSET] = None
        updated = self._patch_own(info, claim, changes, "recording an error")
        self._after_claim(info, claim)
        return updated

    def release(self, info: ObjectInfo, claim: Claim) -> None:
        """Drop our claim so a platform retry can run (best effort: a lapsed claim expires anyway).

        The pending asset id stays: the retry reuses it instead of creating another asset.
        """
        latest = self.read(info.bucket, info.name)
        if latest is not None and latest.claim == claim:
            self._patch(latest, {META_CLAIM: None}, "releasing the claim")
        self._after_claim(info, claim)

    def _patch_own(
        self, info: ObjectInfo, claim: Claim, changes: Mapping[str, str | None], what: str
    ) -> ObjectInfo:
        """Patch while holding the claim: on a failed precondition re-read, and retry if still ours."""
        try:
            return self._patch(info, changes, what)
        except ClaimBusyError:
            latest = self.read(info.bucket, info.name)
            if latest is None or latest.claim != claim:
                raise
            return self._patch(latest, changes, what)


class MarkerLedger(MetadataLedger):
    """The ledger on fake-gcs-server: a create-if-absent marker per claimed generation decides
    who holds it, since the emulator ignores metadata preconditions."""

    pins_generation = False

    def __init__(self, storage: Storage, *, clock: Any = time.time) -> None:
        super().__init__(storage, clock=clock)
        self.storage = storage
        self._claim_buckets: set[str] = set()

    def claims_bucket(self, bucket: str) -> str:
        """The bucket holding the claim markers of ``bucket`` (created on first use)."""
        from google.api_core import exceptions as gexc

        name = f"{bucket[: 63 - len(CLAIM_BUCKET_SUFFIX)]}{CLAIM_BUCKET_SUFFIX}"
        if name not in self._claim_buckets:
            with storage_errors("creating the claims bucket"), contextlib.suppress(gexc.Conflict):
                self.storage.client.create_bucket(name, retry=self.storage.retry)
            self._claim_buckets.add(name)
        return name

    def _marker(self, info: ObjectInfo, generation: int) -> Any:
        bucket = self.storage.client.bucket(self.claims_bucket(info.bucket))
        return bucket.blob(f"{info.name}@{generation}")

    def _before_claim(self, info: ObjectInfo, claim: Claim, now: float) -> None:
        """Create-if-absent the marker (the emulator honours ifGenerationMatch=0 on uploads); a
        lapsed marker is cleared once and the creation tried again."""
        from google.api_core import exceptions as gexc

        marker = self._marker(info, claim.generation)
        for _attempt in range(2):
            try:
                with storage_errors("claiming", passthrough=(gexc.PreconditionFailed,)):
                    marker.upload_from_string(
                        claim.encode(),
                        content_type="text/plain",
                        if_generation_match=0,
                        retry=self.storage.retry,
                    )
                return
            except gexc.PreconditionFailed:
                self._clear_lapsed_marker(info, marker, now)
        raise ClaimBusyError(f"gs://{info.bucket}/{info.name} is claimed")

    def _clear_lapsed_marker(self, info: ObjectInfo, marker: Any, now: float) -> None:
        """Delete an existing marker whose claim lapsed; ClaimBusyError while it is live."""
        with storage_errors("reading a claim marker"):
            existing = marker.bucket.get_blob(marker.name, retry=self.storage.retry)
            held = Claim.parse(existing.download_as_text()) if existing is not None else None
        if existing is not None and held is not None and not held.expired(now):
            raise ClaimBusyError(f"gs://{info.bucket}/{info.name} is claimed") from None
        if existing is not None:
            with (
                storage_errors("clearing a lapsed claim marker"),
                contextlib.suppress(not_found_error()),
            ):
                existing.delete(if_generation_match=existing.generation, retry=self.storage.retry)

    def _after_claim(self, info: ObjectInfo, claim: Claim) -> None:
        """Remove our marker (best effort: a lapsed one is cleared by the next claim)."""
        with contextlib.suppress(Exception):
            handle = self._marker(info, claim.generation)
            marker = handle.bucket.get_blob(handle.name)
            if marker is not None and Claim.parse(marker.download_as_text()) == claim:
                marker.delete()


_ledgers: weakref.WeakKeyDictionary[Storage, MetadataLedger] = weakref.WeakKeyDictionary()
_ledgers_lock = threading.Lock()


def ledger_for(storage: Storage) -> MetadataLedger:
    """The ledger of ``storage`` (one per Storage): markers on the emulator, metadata
    preconditions against Cloud Storage. The one place the choice is made."""
    with _ledgers_lock:
        ledger = _ledgers.get(storage)
        if ledger is None:
            ledger = MarkerLedger(storage) if storage.emulated else MetadataLedger(storage)
            _ledgers[storage] = ledger
        return ledger
