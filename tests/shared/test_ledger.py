"""shared/uploads/ledger.py: the exactly-once ledger of upload-asset.

MetadataLedger, the one that runs against Cloud Storage, is tested against a small store that
enforces what Cloud Storage documents for metadata patches: ifGenerationMatch and
ifMetagenerationMatch answered 412 on mismatch, every patch bumping the metageneration, an upload
making a new generation with fresh metadata. MarkerLedger, the local one, runs against a real
fake-gcs-server.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from shared.core.storage import (
    META_ASSET_ID,
    META_CLAIM,
    META_ERROR,
    META_PENDING_ASSET,
    Claim,
    ClaimBusyError,
    ObjectInfo,
    Storage,
)
from shared.uploads.ledger import MarkerLedger, MetadataLedger, ledger_for
from tests.shared.conftest import put_and_read

# -- the production ledger, against Cloud Storage's preconditions ------------------------------


class PreconditionStore:
    """Objects with generation, metageneration and metadata, patched as Cloud Storage does."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], ObjectInfo] = {}
        self._lock = threading.Lock()
        self._next_generation = 1_000
        self.patches = 0
        self.lose_next_answer = False  # apply the next patch, then answer as if it failed

    def upload(self, bucket: str, name: str, size: int = 10) -> ObjectInfo:
        """A new generation: metageneration 1, no custom metadata."""
        with self._lock:
            self._next_generation += 1
            info = ObjectInfo(
                bucket=bucket,
                name=name,
                generation=self._next_generation,
                metageneration=1,
                size=size,
                stored_generation=self._next_generation,
            )
            self._objects[(bucket, name)] = info
            return info

    def get_object(self, bucket: str, name: str) -> ObjectInfo | None:
        return self._objects.get((bucket, name))

    def patch_metadata(
        self,
        info: ObjectInfo,
        changes: Mapping[str, str | None],
        *,
        if_metageneration_match: int,
        if_generation_match: int | None = None,
        what: str,
    ) -> ObjectInfo:
        with self._lock:
            self.patches += 1
            current = self._objects[(info.bucket, info.name)]
            if if_generation_match is not None and if_generation_match != current.generation:
                raise ClaimBusyError(f"412 conditionNotMet (generation) while {what}")
            if if_metageneration_match != current.metageneration:
                raise ClaimBusyError(f"412 conditionNotMet (metageneration) while {what}")
            metadata = dict(current.metadata)
            for key, value in changes.items():
                if value is None:
                    metadata.pop(key, None)
                else:
                    metadata[key] = value
            updated = dataclasses.replace(
                current, metageneration=current.metageneration + 1, metadata=metadata
            )
            self._objects[(info.bucket, info.name)] = updated
            if self.lose_next_answer:
                self.lose_next_answer = False
                raise ClaimBusyError(f"412 on a retry of a patch that landed, while {what}")
            return updated


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> PreconditionStore:
    return PreconditionStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def production(store: PreconditionStore, clock: Clock) -> MetadataLedger:
    return MetadataLedger(store, clock=clock)


def test_two_racing_deliveries_one_claim_stands(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    # GIVEN two deliveries of one event that both read the object before either claimed
    info = store.upload("b", "uploads/a.png")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def deliver(claim_id: str) -> None:
        barrier.wait()
        try:
            production.claim(info, claim_id, ttl_seconds=600)
            results.append(claim_id)
        except ClaimBusyError:
            results.append("busy")

    threads = [threading.Thread(target=deliver, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly one holds the claim: the other's write met a bumped metageneration (412)
    assert len(results) == 2
    assert results.count("busy") == 1
    latest = production.read("b", "uploads/a.png")
    assert latest is not None
    assert latest.claim is not None
    assert latest.claim.claim_id == next(r for r in results if r != "busy")


def test_a_live_claim_refuses_a_delivery_that_read_it(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    info = store.upload("b", "uploads/a.png")
    production.claim(info, "first", ttl_seconds=600)
    latest = production.read("b", "uploads/a.png")
    assert latest is not None
    with pytest.raises(ClaimBusyError, match="is claimed until"):
        production.claim(latest, "second", ttl_seconds=600)


def test_a_lapsed_claim_is_taken_over(
    store: PreconditionStore, production: MetadataLedger, clock: Clock
) -> None:
    info = store.upload("b", "uploads/a.png")
    production.claim(info, "crashed", ttl_seconds=600)
    clock.now += 601
    latest = production.read("b", "uploads/a.png")
    assert latest is not None
    _, claim = production.claim(latest, "next", ttl_seconds=600)
    assert claim.claim_id == "next"


def test_a_crash_between_steps_leaves_the_asset_for_the_retry_and_no_second_upload(
    store: PreconditionStore, production: MetadataLedger, clock: Clock
) -> None:
    # GIVEN a delivery that claimed and recorded its asset, then died before recording success
    info = store.upload("b", "uploads/a.png")
    claimed, claim = production.claim(info, "dies", ttl_seconds=600)
    production.record_pending_asset(claimed, claim, "asset-1")
    # WHEN the redelivery comes before the claim lapses THEN it backs off
    early = production.read("b", "uploads/a.png")
    assert early is not None
    with pytest.raises(ClaimBusyError):
        production.claim(early, "early", ttl_seconds=600)
    # WHEN it comes after THEN it claims, finds the asset to reuse, and records it done
    clock.now += 601
    late = production.read("b", "uploads/a.png")
    assert late is not None
    assert late.pending_asset_id(info.generation) == "asset-1"
    claimed, claim = production.claim(late, "retry", ttl_seconds=600)
    production.record_success(claimed, claim, "asset-1", "https://cdn/a.png")
    done = production.read("b", "uploads/a.png")
    assert done is not None
    assert done.processed(info.generation)
    assert done.claim is None
    assert done.meta(META_PENDING_ASSET) is None


def test_an_object_replaced_since_it_was_read_is_never_written_to(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    info = store.upload("b", "uploads/a.png")
    store.upload("b", "uploads/a.png")  # a new generation, metageneration 1 again
    with pytest.raises(ClaimBusyError, match="generation"):
        production.claim(info, "stale", ttl_seconds=600)
    latest = production.read("b", "uploads/a.png")
    assert latest is not None
    assert latest.meta(META_CLAIM) is None


def test_a_claim_whose_answer_was_lost_is_held(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    # The client library retried a patch that had landed: the retry meets its own metageneration.
    info = store.upload("b", "uploads/a.png")
    store.lose_next_answer = True
    claimed, claim = production.claim(info, "mine", ttl_seconds=600)
    assert claimed.claim == claim


def test_release_keeps_the_pending_asset_and_lets_a_retry_claim(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    info = store.upload("b", "uploads/a.png")
    claimed, claim = production.claim(info, "first", ttl_seconds=600)
    claimed = production.record_pending_asset(claimed, claim, "asset-1")
    production.release(claimed, claim)
    retry = production.read("b", "uploads/a.png")
    assert retry is not None
    assert retry.claim is None
    assert retry.pending_asset_id(info.generation) == "asset-1"
    production.claim(retry, "second", ttl_seconds=600)


def test_recording_as_the_holder_survives_a_stale_snapshot(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    # Our snapshot is one patch behind (the pending asset was recorded on another copy): the
    # write re-reads, sees the claim is still ours, and goes through.
    info = store.upload("b", "uploads/a.png")
    claimed, claim = production.claim(info, "first", ttl_seconds=600)
    production.record_pending_asset(claimed, claim, "asset-1")
    production.record_success(claimed, claim, "asset-1", None)
    done = production.read("b", "uploads/a.png")
    assert done is not None
    assert done.processed(info.generation)


def test_an_error_recorded_without_a_claim_marks_the_generation_failed(
    store: PreconditionStore, production: MetadataLedger
) -> None:
    info = store.upload("b", "uploads/a.exe")
    production.record_error(info, "extension .exe is not allowed")
    failed = production.read("b", "uploads/a.exe")
    assert failed is not None
    assert failed.failed(info.generation)
    assert failed.meta(META_ERROR) == "extension .exe is not allowed"


def test_the_ledger_is_chosen_in_one_place(gcs: Any) -> None:
    emulated = Storage(gcs.client, emulated=True)
    real = Storage(object(), emulated=False)
    assert type(ledger_for(emulated)) is MarkerLedger
    assert type(ledger_for(real)) is MetadataLedger
    assert ledger_for(real) is ledger_for(real)


# -- the local ledger, on fake-gcs-server ------------------------------------------------------


@pytest.fixture
def ledger(storage: Storage) -> MarkerLedger:
    return MarkerLedger(storage)


def test_claim_round_trip_and_malformed_values() -> None:
    claim = Claim(generation=12, claim_id="abc", expires_at=1700000000)
    assert Claim.parse(claim.encode()) == claim
    assert Claim.parse("garbage") is None
    assert Claim.parse("x:y:z") is None
    assert Claim.parse("") is None


def test_claim_records_generation_and_blocks_a_second_claim(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = ledger.claim(info, "first", ttl_seconds=60)
    assert claimed.claim == claim
    assert claimed.ledger_generation == info.generation

    again = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert again is not None
    assert again.generation == info.generation
    with pytest.raises(ClaimBusyError):
        ledger.claim(again, "second", ttl_seconds=60)


def test_a_stale_read_cannot_claim_twice(gcs: Any, storage: Storage, ledger: MarkerLedger) -> None:
    """Two deliveries that read the object before either claimed: only one claim stands."""
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    ledger.claim(info, "first", ttl_seconds=60)
    with pytest.raises(ClaimBusyError):
        ledger.claim(info, "second", ttl_seconds=60)


def test_claim_markers_stay_out_of_the_watched_bucket(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    ledger.claim(info, "first", ttl_seconds=60)
    assert [b.name for b in gcs.client.list_blobs(gcs.bucket_name)] == ["uploads/a.png"]
    assert len(list(gcs.client.list_blobs(ledger.claims_bucket(gcs.bucket_name)))) == 1


def test_concurrent_claims_have_one_winner(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(claim_id: str) -> None:
        barrier.wait()
        try:
            ledger.claim(info, claim_id, ttl_seconds=60)
            winners.append(claim_id)
        except ClaimBusyError:
            pass

    threads = [threading.Thread(target=attempt, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    latest = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert latest is not None
    assert latest.claim is not None
    assert latest.claim.claim_id == winners[0]


def test_an_expired_claim_can_be_taken_over(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    ledger.claim(info, "dead", ttl_seconds=-1)
    again = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert again is not None
    _claimed, claim = ledger.claim(again, "alive", ttl_seconds=60)
    assert claim.claim_id == "alive"


def test_release_lets_a_retry_claim_and_keeps_the_pending_asset(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = ledger.claim(info, "first", ttl_seconds=60)
    claimed = ledger.record_pending_asset(claimed, claim, "asset-1")
    ledger.release(claimed, claim)

    retry = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert retry is not None
    assert retry.claim is None
    assert retry.generation == info.generation
    assert retry.pending_asset_id(info.generation) == "asset-1"
    ledger.claim(retry, "second", ttl_seconds=60)


def test_record_success_marks_the_generation_processed(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x", **{"webflow-item-id": "item-1"})
    claimed, claim = ledger.claim(info, "first", ttl_seconds=60)
    ledger.record_success(claimed, claim, "asset-9", "http://cdn/a.png")

    done = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert done is not None
    assert done.processed(info.generation)
    assert not done.processed(info.generation + 1)
    assert done.claim is None
    assert done.meta(META_PENDING_ASSET) is None
    assert done.meta(META_ASSET_ID) == "asset-9"
    assert done.meta("webflow-item-id") == "item-1"
    assert not list(gcs.client.list_blobs(ledger.claims_bucket(gcs.bucket_name)))


def test_record_error_marks_the_generation_failed(
    gcs: Any, storage: Storage, ledger: MarkerLedger
) -> None:
    info = put_and_read(
        gcs, storage, "uploads/a.exe", b"x", content_type="application/octet-stream"
    )
    ledger.record_error(info, "extension .exe is not allowed")
    failed = storage.get_object(gcs.bucket_name, "uploads/a.exe")
    assert failed is not None
    assert failed.failed(info.generation)
    assert failed.meta(META_ERROR) == "extension .exe is not allowed"


def test_a_new_upload_resets_the_ledger(gcs: Any, storage: Storage, ledger: MarkerLedger) -> None:
    info = put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = ledger.claim(info, "first", ttl_seconds=60)
    ledger.record_success(claimed, claim, "asset-1", None)
    time.sleep(0.01)
    gcs.put("uploads/a.png", b"y")
    fresh = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert fresh is not None
    assert fresh.generation != info.generation
    assert not fresh.processed(fresh.generation)
    assert fresh.ledger_generation is None
