"""shared/core/storage.py against a real fake-gcs-server: what the emulator does, object reads."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from shared.core.storage import (
    ObjectInfo,
    Storage,
)
from tests.shared.conftest import put_and_read

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
    assert info is not None
    assert info.meta("webflow-claim") is None
    assert info.claim is None


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
    info = put_and_read(gcs, storage, "uploads/photo.png", data, **{"webflow-alt": "A cat"})
    assert info.md5_hex == hashlib.md5(data).hexdigest()
    assert (info.size, info.content_type, info.meta("webflow-alt")) == (
        len(data),
        "image/png",
        "A cat",
    )
    assert info.generation > 0
    assert info.component_count is None


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
    assert info is not None
    assert info.size == 2000
    assert info.component_count is None
    assert info.md5_hash is not None


def test_object_info_of_a_composite_has_no_md5_hex() -> None:
    info = ObjectInfo.from_resource(
        {"bucket": "b", "name": "x.pdf", "generation": "3", "size": "9", "componentCount": 2}
    )
    assert info.md5_hex is None
    assert info.component_count == 2


def test_iter_chunks_streams_the_bytes_in_bounded_chunks(gcs: Any, storage: Storage) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    info = put_and_read(gcs, storage, "uploads/doc.pdf", data, content_type="application/pdf")
    chunks = list(storage.iter_chunks(info, chunk_size=64 * 1024))
    assert b"".join(chunks) == data
    assert len(chunks) == 4
    assert max(len(c) for c in chunks) == 64 * 1024


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
    assert info.time_created is not None
    assert info.time_created.year == 2026


# -- claims and the ledger ----------------------------------------------------------------------------
