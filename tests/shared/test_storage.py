"""shared/storage.py against a real fake-gcs-server: object reads, the metadata ledger, claims."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from typing import Any

import pytest

from shared.storage import (
    META_ASSET_ID,
    META_CLAIM,
    META_ERROR,
    META_GENERATION,
    META_PENDING_ASSET,
    Claim,
    ClaimBusyError,
    ObjectInfo,
    Storage,
)


@pytest.fixture
def storage(gcs: Any) -> Storage:
    """A Storage on the test's fake-gcs-server, reading in small chunks."""
    return Storage(gcs.client, emulated=True, chunk_size=64 * 1024)


def _put_and_read(
    gcs: Any,
    storage: Storage,
    name: str,
    data: bytes,
    content_type: str = "image/png",
    **metadata: str,
) -> ObjectInfo:
    """Upload an object, then read it back through the Storage under test."""
    gcs.put(name, data, content_type, **metadata)
    info = storage.get_object(gcs.bucket_name, name)
    assert info is not None
    return info


# -- what fake-gcs-server does (the ledger's emulator mode depends on these facts) -------------------


def test_emulator_ignores_metageneration_precondition_on_metadata_patch(gcs: Any) -> None:
    """fake-gcs-server accepts a patch whose ifMetagenerationMatch is stale (real GCS answers 412)."""
    gcs.put("uploads/a.png", b"x")
    blob = gcs.bucket.get_blob("uploads/a.png")
    blob.metadata = {"k": "first"}
    blob.patch(if_metageneration_match=blob.metageneration)

    stale = gcs.bucket.blob("uploads/a.png")
    stale.metadata = {"k": "stale"}
    stale.patch(if_metageneration_match=999)

    assert gcs.bucket.get_blob("uploads/a.png").metadata["k"] == "stale"


def test_emulator_mints_a_generation_on_metadata_patch(gcs: Any) -> None:
    """fake-gcs-server keeps metageneration at 1 and changes the generation when metadata changes."""
    gcs.put("uploads/a.png", b"x")
    before = gcs.bucket.get_blob("uploads/a.png")
    uploaded_generation = before.generation
    before.metadata = {"k": "v"}
    before.patch()
    after = gcs.bucket.get_blob("uploads/a.png")
    assert after.metageneration == 1
    assert after.generation != uploaded_generation


def test_emulator_honours_if_generation_match_zero_on_multipart_upload(gcs: Any) -> None:
    """Create-if-absent works on the emulator: the basis of the emulated claim marker."""
    from google.api_core.exceptions import PreconditionFailed

    gcs.bucket.blob("lock").upload_from_string(b"1", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        gcs.bucket.blob("lock").upload_from_string(b"2", if_generation_match=0)


def test_emulator_keeps_a_key_patched_to_null_as_empty(gcs: Any, storage: Storage) -> None:
    """Cloud Storage removes the key; fake-gcs-server keeps it empty, so the ledger reads "" as absent."""
    gcs.put("uploads/a.png", b"x", **{"webflow-claim": "1:a:2"})
    blob = gcs.bucket.blob("uploads/a.png")
    blob.metadata = {"webflow-claim": None}
    blob.patch()
    assert gcs.bucket.get_blob("uploads/a.png").metadata == {"webflow-claim": ""}
    info = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert info is not None and info.meta("webflow-claim") is None and info.claim is None


def test_emulator_ignores_if_generation_match_on_media_uploads_and_deletes(gcs: Any) -> None:
    import httpx

    gcs.put("lock", b"1")
    media = httpx.post(
        f"{gcs.host}/upload/storage/v1/b/{gcs.bucket_name}/o",
        params={"uploadType": "media", "name": "lock", "ifGenerationMatch": "0"},
        content=b"2",
    )
    assert media.status_code == 200  # Cloud Storage: 412
    gcs.bucket.blob("lock").delete(if_generation_match=1)  # Cloud Storage: 412
    assert gcs.bucket.get_blob("lock") is None


# -- reads --------------------------------------------------------------------------------------------


def test_get_object_reports_md5_hex_without_download(gcs: Any, storage: Storage) -> None:
    data = b"\x89PNG fake image bytes"
    info = _put_and_read(gcs, storage, "uploads/photo.png", data, **{"webflow-alt": "A cat"})
    assert info.md5_hex == hashlib.md5(data).hexdigest()
    assert (info.size, info.content_type, info.meta("webflow-alt")) == (
        len(data),
        "image/png",
        "A cat",
    )
    assert info.generation > 0 and info.component_count is None  # not a composed object


def test_get_object_missing_is_none(gcs: Any, storage: Storage) -> None:
    assert storage.get_object(gcs.bucket_name, "uploads/nothing.png") is None


def test_emulator_reports_composed_objects_like_plain_ones(gcs: Any, storage: Storage) -> None:
    """fake-gcs-server gives a composed object an md5Hash and no componentCount (Cloud Storage: the reverse).

    The pipeline therefore also trusts an event's componentCount; see tests/functions/test_upload_asset.py.
    """
    parts = [gcs.bucket.blob(f"parts/{i}") for i in range(2)]
    for i, part in enumerate(parts):
        part.upload_from_string(bytes([65 + i]) * 1000)
    composite = gcs.bucket.blob("uploads/big.pdf")
    composite.content_type = "application/pdf"
    composite.compose(parts)
    info = storage.get_object(gcs.bucket_name, "uploads/big.pdf")
    assert info is not None and info.size == 2000
    assert info.component_count is None and info.md5_hash is not None


def test_object_info_of_a_composite_has_no_md5_hex() -> None:
    info = ObjectInfo.from_resource(
        {"bucket": "b", "name": "x.pdf", "generation": "3", "size": "9", "componentCount": 2}
    )
    assert info.md5_hex is None and info.component_count == 2


def test_iter_chunks_streams_the_bytes_in_bounded_chunks(gcs: Any, storage: Storage) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    info = _put_and_read(gcs, storage, "uploads/doc.pdf", data, content_type="application/pdf")
    chunks = list(storage.iter_chunks(info, chunk_size=64 * 1024))
    assert b"".join(chunks) == data
    assert len(chunks) == 4 and max(len(c) for c in chunks) == 64 * 1024


def test_object_info_from_eventarc_data() -> None:
    md5 = base64.b64encode(hashlib.md5(b"abc").digest()).decode()
    info = ObjectInfo.from_resource(
        {
            "bucket": "b",
            "name": "uploads/x.png",
            "generation": "17",
            "metageneration": "1",
            "size": "3",
            "contentType": "image/png",
            "md5Hash": md5,
            "timeCreated": "2026-01-02T03:04:05.678Z",
            "metadata": None,
        }
    )
    assert (info.generation, info.size, info.md5_hex) == (17, 3, hashlib.md5(b"abc").hexdigest())
    assert info.time_created is not None and info.time_created.year == 2026


# -- claims and the ledger ----------------------------------------------------------------------------


def test_claim_round_trip_and_malformed_values() -> None:
    claim = Claim(generation=12, claim_id="abc", expires_at=1700000000)
    assert Claim.parse(claim.encode()) == claim
    assert (
        Claim.parse("garbage") is None and Claim.parse("x:y:z") is None and Claim.parse("") is None
    )


def test_claim_records_generation_and_blocks_a_second_claim(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = storage.claim(info, "first", ttl_seconds=60)
    assert claimed.claim == claim and claimed.ledger_generation == info.generation

    again = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert again is not None and again.generation == info.generation
    with pytest.raises(ClaimBusyError):
        storage.claim(again, "second", ttl_seconds=60)


def test_a_stale_read_cannot_claim_twice(gcs: Any, storage: Storage) -> None:
    """Two deliveries that read the object before either claimed: only one claim stands."""
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    storage.claim(info, "first", ttl_seconds=60)
    with pytest.raises(ClaimBusyError):
        storage.claim(info, "second", ttl_seconds=60)


def test_claim_markers_stay_out_of_the_watched_bucket(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    storage.claim(info, "first", ttl_seconds=60)
    assert [b.name for b in gcs.client.list_blobs(gcs.bucket_name)] == ["uploads/a.png"]
    assert len(list(gcs.client.list_blobs(storage.claims_bucket(gcs.bucket_name)))) == 1


def test_concurrent_claims_have_one_winner(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(claim_id: str) -> None:
        barrier.wait()
        try:
            storage.claim(info, claim_id, ttl_seconds=60)
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
    assert latest is not None and latest.claim is not None and latest.claim.claim_id == winners[0]


def test_an_expired_claim_can_be_taken_over(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    storage.claim(info, "dead", ttl_seconds=-1)
    again = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert again is not None
    _claimed, claim = storage.claim(again, "alive", ttl_seconds=60)
    assert claim.claim_id == "alive"


def test_release_lets_a_retry_claim_and_keeps_the_pending_asset(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = storage.claim(info, "first", ttl_seconds=60)
    claimed = storage.record_pending_asset(claimed, claim, "asset-1")
    storage.release(claimed, claim)

    retry = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert retry is not None and retry.claim is None
    assert retry.generation == info.generation
    assert retry.pending_asset_id(info.generation) == "asset-1"
    storage.claim(retry, "second", ttl_seconds=60)


def test_record_success_marks_the_generation_processed(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x", **{"webflow-item-id": "item-1"})
    claimed, claim = storage.claim(info, "first", ttl_seconds=60)
    storage.record_success(claimed, claim, "asset-9", "http://cdn/a.png")

    done = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert done is not None
    assert done.processed(info.generation) and not done.processed(info.generation + 1)
    assert done.claim is None and done.meta(META_PENDING_ASSET) is None
    assert done.meta(META_ASSET_ID) == "asset-9" and done.meta("webflow-item-id") == "item-1"
    assert not list(gcs.client.list_blobs(storage.claims_bucket(gcs.bucket_name)))


def test_record_error_marks_the_generation_failed(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(
        gcs, storage, "uploads/a.exe", b"x", content_type="application/octet-stream"
    )
    storage.record_error(info, "extension .exe is not allowed")
    failed = storage.get_object(gcs.bucket_name, "uploads/a.exe")
    assert failed is not None and failed.failed(info.generation)
    assert failed.meta(META_ERROR) == "extension .exe is not allowed"


def test_a_new_upload_resets_the_ledger(gcs: Any, storage: Storage) -> None:
    info = _put_and_read(gcs, storage, "uploads/a.png", b"x")
    claimed, claim = storage.claim(info, "first", ttl_seconds=60)
    storage.record_success(claimed, claim, "asset-1", None)
    time.sleep(0.01)
    gcs.put("uploads/a.png", b"y")
    fresh = storage.get_object(gcs.bucket_name, "uploads/a.png")
    assert fresh is not None and fresh.generation != info.generation
    assert not fresh.processed(fresh.generation) and fresh.ledger_generation is None


# -- against Cloud Storage semantics (a recording stand-in for the client) --------------------------


class _RecordingBlob:
    """Just enough of a Blob to see what the ledger sends and to answer 412."""

    def __init__(self, bucket: _RecordingBucket, name: str, generation: int | None = None) -> None:
        self.bucket, self.name, self.generation = bucket, name, generation
        self.metadata: dict[str, Any] | None = None
        self._properties: dict[str, Any] = {}

    def patch(self, **kwargs: Any) -> None:
        from google.api_core.exceptions import PreconditionFailed

        self.bucket.calls.append((self.name, dict(self.metadata or {}), kwargs))
        if kwargs.get("if_metageneration_match") != self.bucket.metageneration:
            raise PreconditionFailed("conditionNotMet")
        self.bucket.metageneration += 1
        self._properties = {
            "bucket": "b",
            "name": self.name,
            "generation": "5",
            "metageneration": str(self.bucket.metageneration),
            "metadata": self.metadata,
        }


class _RecordingBucket:
    def __init__(self) -> None:
        self.name = "b"
        self.metageneration = 1
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def blob(self, name: str, generation: int | None = None) -> _RecordingBlob:
        return _RecordingBlob(self, name, generation)

    def get_blob(self, name: str, **kwargs: Any) -> None:
        return None


class _RecordingClient:
    def __init__(self) -> None:
        self.the_bucket = _RecordingBucket()

    def bucket(self, name: str) -> _RecordingBucket:
        return self.the_bucket


def test_claim_sends_a_metageneration_precondition_and_maps_412_to_busy() -> None:
    client = _RecordingClient()
    storage = Storage(client, emulated=False)
    info = ObjectInfo(
        bucket="b",
        name="uploads/a.png",
        generation=5,
        metageneration=1,
        size=1,
        stored_generation=5,
    )

    claimed, claim = storage.claim(info, uuid.uuid4().hex, ttl_seconds=60)
    assert client.the_bucket.calls[0][2]["if_metageneration_match"] == 1
    assert client.the_bucket.calls[0][2]["if_generation_match"] == 5
    assert client.the_bucket.calls[0][1][META_CLAIM] == claim.encode()
    assert client.the_bucket.calls[0][1][META_GENERATION] == "5"
    assert claimed.metageneration == 2

    with pytest.raises(ClaimBusyError):
        storage.claim(info, "late", ttl_seconds=60)  # still holds metageneration 1: stale
