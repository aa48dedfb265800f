"""upload-asset through the functions-framework test client, with real CloudEvents, against the sandbox
and fake-gcs-server."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from bench.photos import encode, photo_pixels
from tests.items_support import RequestCounter, load_function

MAIN = Path(__file__).resolve().parents[2] / "functions" / "upload-asset" / "main.py"
FINALIZED = "google.cloud.storage.object.v1.finalized"
API_KEY = "upload-test-key-0123456789"

# Real, small, clean images: upload-asset reads every image it uploads (shared/uploads/imaging.py), and
# passes these through byte for byte.
PNG = encode(photo_pixels(64, 48, seed=1), "PNG")
OTHER_PNG = encode(photo_pixels(64, 48, seed=2), "PNG")
PDF = b"%PDF-1.4\n" + b"0123456789abcdef" * 4096


# -- fixtures and helpers -----------------------------------------------------------------------------


def upload_environment(webflow_env: dict[str, str], sandbox: Any) -> dict[str, str]:
    """Environment of the function under test: prefixes, API key, short Webflow retry budget, and
    posts and submissions open to attachments (the gallery is not: files become new items there)."""
    attachable = [sandbox.collections[name] for name in ("posts", "submissions")]
    env = {
        "UPLOAD_PREFIX": "uploads/,gallery/",
        "UPLOAD_COLLECTION_IDS": ",".join(attachable),
        "UPLOAD_API_KEYS": API_KEY,
        "WEBFLOW_MAX_RETRY_SECONDS": "3",
        "WEBFLOW_RATE_LIMIT_PER_MINUTE": "6000",
        "STORAGE_RETRY_SECONDS": "2",
    }
    os.environ.update(env)
    return {**webflow_env, **env}


@pytest.fixture
def upload_env(webflow_env: dict[str, str], gcs: Any, sandbox: Any) -> dict[str, str]:
    """The function's environment (upload_environment) with the sandbox and a bucket."""
    return upload_environment(webflow_env, sandbox)


def _app(target: str, signature: str) -> Any:
    """A fresh app for the entry point, and its module (to reset the instance after the test)."""
    app = load_function("upload-asset", target, signature)
    return app, sys.modules["main"]


@pytest.fixture
def events(upload_env: dict[str, str]) -> Iterator[Any]:
    """Test client of the CloudEvent entry point."""
    app, module = _app("upload_asset", "cloudevent")
    yield app.test_client()
    module.reset_state()


@pytest.fixture
def http_client(upload_env: dict[str, str]) -> Iterator[Any]:
    """Test client of the HTTP entry point."""
    app, module = _app("upload_asset_http", "http")
    yield app.test_client()
    module.reset_state()


def finalized_event(
    blob: Any, *, time: dt.datetime | None = None, **data_overrides: Any
) -> CloudEvent:
    """The google.cloud.storage.object.v1.finalized event Eventarc sends for this blob."""
    props = blob._properties
    data = {
        "kind": "storage#object",
        "id": f"{blob.bucket.name}/{blob.name}/{props['generation']}",
        "selfLink": props.get("selfLink"),
        "name": blob.name,
        "bucket": blob.bucket.name,
        "generation": str(props["generation"]),
        "metageneration": str(props.get("metageneration", "1")),
        "contentType": props.get("contentType"),
        "timeCreated": props.get("timeCreated"),
        "updated": props.get("updated"),
        "storageClass": "STANDARD",
        "size": str(props["size"]),
        "md5Hash": props.get("md5Hash"),
        "crc32c": props.get("crc32c"),
        "etag": props.get("etag"),
        "metadata": props.get("metadata"),
    }
    data.update(data_overrides)
    data = {key: value for key, value in data.items() if value is not None}
    attributes = {
        "specversion": "1.0",
        "type": FINALIZED,
        "source": f"//storage.googleapis.com/projects/_/buckets/{blob.bucket.name}",
        "subject": f"objects/{blob.name}",
        "id": uuid.uuid4().hex,
        "time": (time or dt.datetime.now(dt.UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, data)


def deliver(client: Any, event: CloudEvent, mode: str = "binary") -> Any:
    """POST the event the way Eventarc does (binary content mode) or in structured mode."""
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return client.post("/", headers=headers, data=body)


def assets(sandbox: Any) -> list[dict[str, Any]]:
    """Every asset of the sandbox site."""
    with sandbox.api() as api:
        return (
            api.get(f"/sites/{sandbox.site_id}/assets", params={"limit": 100})
            .raise_for_status()
            .json()["assets"]
        )


def ledger(gcs: Any, name: str) -> dict[str, str]:
    """The object's custom metadata, with the emulator's emptied keys dropped."""
    blob = gcs.bucket.get_blob(name)
    return {key: value for key, value in (blob.metadata or {}).items() if value}


def create_item(sandbox: Any, collection: str, field_data: dict[str, Any]) -> dict[str, Any]:
    """Create a staged item straight through the API."""
    with sandbox.api() as api:
        response = api.post(
            f"/collections/{sandbox.collections[collection]}/items",
            json={"isDraft": False, "fieldData": field_data},
        )
        return response.raise_for_status().json()


def get_item(sandbox: Any, collection: str, item_id: str) -> dict[str, Any]:
    """Read a staged item straight through the API."""
    with sandbox.api() as api:
        return (
            api.get(f"/collections/{sandbox.collections[collection]}/items/{item_id}")
            .raise_for_status()
            .json()
        )


def list_items(sandbox: Any, collection: str) -> list[dict[str, Any]]:
    """Every staged item of a collection."""
    with sandbox.api() as api:
        return (
            api.get(f"/collections/{sandbox.collections[collection]}/items")
            .raise_for_status()
            .json()["items"]
        )


def fail_first_call(
    monkeypatch: pytest.MonkeyPatch, owner: type, method: str, error: Exception
) -> None:
    """Make ``owner.method`` raise ``error`` on its first call and work as before afterwards."""
    original = getattr(owner, method)
    calls = {"n": 0}

    def once(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, once)


def hosted_bytes(sandbox: Any, url: str) -> bytes:
    """What the sandbox serves at an asset's hosted URL."""
    import httpx

    return httpx.get(url, timeout=10.0).raise_for_status().content


# -- the happy path and exactly-once ----------------------------------------------------------------


def test_a_new_object_becomes_an_asset(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/photo.png", PNG)

    response = deliver(events, finalized_event(blob))

    assert response.status_code == 200
    (asset,) = assets(sandbox)
    recorded = ledger(gcs, "uploads/photo.png")
    assert recorded["webflow-asset-id"] == asset["id"]
    assert recorded["webflow-generation"] == str(blob.generation)
    assert "webflow-claim" not in recorded
    assert "webflow-error" not in recorded
    assert hosted_bytes(sandbox, recorded["webflow-hosted-url"]) == PNG


def test_structured_mode_event_is_handled_too(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/report.pdf", PDF, content_type="application/pdf")
    assert deliver(events, finalized_event(blob), mode="structured").status_code == 200
    (asset,) = assets(sandbox)
    assert ledger(gcs, "uploads/report.pdf")["webflow-asset-id"] == asset["id"]


def test_a_redelivered_event_creates_no_second_asset(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    assert deliver(events, event).status_code == 200
    first = ledger(gcs, "uploads/photo.png")
    calls_before = sandbox.stats()["total"]

    assert deliver(events, event).status_code == 200

    assert sandbox.stats()["total"] == calls_before  # the ledger answered: Webflow was not asked
    assert len(assets(sandbox)) == 1
    assert ledger(gcs, "uploads/photo.png") == first


def test_concurrent_deliveries_upload_once(
    gcs: Any, sandbox: Any, upload_env: dict[str, str]
) -> None:
    app, module = _app("upload_asset", "cloudevent")
    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def delivery() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(deliver(client, event).status_code)

    threads = [threading.Thread(target=delivery) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Deliveries that found the claim taken failed (500): the platform redelivers them later.
    for status in statuses:
        if status != 200:
            assert deliver(app.test_client(), event).status_code == 200
    module.reset_state()

    assert 200 in statuses
    assert set(statuses) <= {200, 500}
    assert len(assets(sandbox)) == 1
    assert ledger(gcs, "uploads/photo.png")["webflow-asset-id"] == assets(sandbox)[0]["id"]


def test_a_new_generation_is_uploaded_again(events: Any, gcs: Any, sandbox: Any) -> None:
    first = gcs.put("uploads/photo.png", PNG)
    assert deliver(events, finalized_event(first)).status_code == 200
    second = gcs.put("uploads/photo.png", OTHER_PNG)
    assert deliver(events, finalized_event(second)).status_code == 200
    assert len(assets(sandbox)) == 2
    assert ledger(gcs, "uploads/photo.png")["webflow-generation"] == str(second.generation)


def test_an_event_for_a_replaced_generation_is_acknowledged_without_work(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    old = gcs.put("uploads/photo.png", PNG)
    old_event = finalized_event(old)
    gcs.put("uploads/photo.png", OTHER_PNG)
    assert deliver(events, old_event).status_code == 200
    assert assets(sandbox) == []


def test_an_event_for_the_functions_own_metadata_write_does_nothing(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    """fake-gcs-server mints a generation when the ledger is written; an event naming it is not new work."""
    blob = gcs.put("uploads/photo.png", PNG)
    assert deliver(events, finalized_event(blob)).status_code == 200
    patched = gcs.bucket.get_blob("uploads/photo.png")

    assert deliver(events, finalized_event(patched)).status_code == 200

    assert len(assets(sandbox)) == 1


# -- filters and checks before download -----------------------------------------------------------


def test_objects_outside_the_prefixes_are_ignored(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("private/photo.png", PNG)
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert assets(sandbox) == []
    assert ledger(gcs, "private/photo.png") == {}


def test_an_old_event_is_dropped(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/photo.png", PNG)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    assert deliver(events, finalized_event(blob, time=old)).status_code == 200
    assert assets(sandbox) == []


def test_an_oversized_image_is_rejected_before_download(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    os.environ["IMAGE_MAX_INPUT_BYTES"] = str(4 * 1024 * 1024)
    blob = gcs.put("uploads/huge.png", b"\0" * (4 * 1024 * 1024 + 1))

    response = deliver(events, finalized_event(blob))

    assert response.status_code == 200  # acknowledged: a poison event is never retried
    assert "4 MB limit" in ledger(gcs, "uploads/huge.png")["webflow-error"]
    assert sandbox.stats()["total"] == 0  # Webflow never asked


def test_a_disallowed_type_is_rejected(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/tool.exe", b"MZ...", content_type="application/octet-stream")
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert ledger(gcs, "uploads/tool.exe")["webflow-error"] == "extension .exe is not allowed"
    assert assets(sandbox) == []


def test_a_content_type_that_contradicts_the_extension_is_rejected(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    blob = gcs.put("uploads/photo.png", b"<html></html>", content_type="text/html")
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert "does not match" in ledger(gcs, "uploads/photo.png")["webflow-error"]
    assert assets(sandbox) == []


def test_a_rejected_object_is_not_checked_again(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/tool.exe", b"MZ", content_type="application/octet-stream")
    event = finalized_event(blob)
    deliver(events, event)
    before = gcs.bucket.get_blob("uploads/tool.exe").generation
    assert deliver(events, event).status_code == 200
    assert gcs.bucket.get_blob("uploads/tool.exe").generation == before  # no second ledger write


# -- hashing composite objects -------------------------------------------------------------------------


def test_a_composite_object_is_hashed_while_streaming(
    events: Any, gcs: Any, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = [gcs.bucket.blob(f"parts/{i}") for i in range(3)]
    chunks = [PDF[:20000], PDF[20000:45000], PDF[45000:]]
    for part, chunk in zip(parts, chunks, strict=True):
        part.upload_from_string(chunk)
    composite = gcs.bucket.blob("uploads/joined.pdf")
    composite.content_type = "application/pdf"
    composite.compose(parts)
    blob = gcs.bucket.get_blob("uploads/joined.pdf")
    # As Cloud Storage reports a composite: componentCount and no md5Hash (fake-gcs-server reports neither).
    event = finalized_event(blob, md5Hash=None, componentCount=3)
    event.data.pop("md5Hash", None)

    assert deliver(events, event).status_code == 200

    (asset,) = assets(sandbox)  # the sandbox checked the MD5 of the bytes against fileHash
    assert ledger(gcs, "uploads/joined.pdf")["webflow-asset-id"] == asset["id"]
    assert hosted_bytes(sandbox, asset["hostedUrl"]) == PDF
    logged = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert any(entry["message"] == "composite object hashed while streaming" for entry in logged)


# -- attaching ------------------------------------------------------------------------------------------


def test_a_path_names_the_item_and_field(events: Any, gcs: Any, sandbox: Any) -> None:
    item = create_item(sandbox, "posts", {"name": "Hello world", "slug": "hello-world"})
    blob = gcs.put("uploads/posts/hello-world/hero.png", PNG, **{"webflow-alt": "A sunrise"})

    assert deliver(events, finalized_event(blob)).status_code == 200

    (asset,) = assets(sandbox)
    hero = get_item(sandbox, "posts", item["id"])["fieldData"]["hero"]
    assert hero["fileId"] == asset["id"]
    assert hero["alt"] == "A sunrise"
    assert hero["url"]


def test_metadata_from_a_create_items_form_post_names_the_item(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    item = create_item(
        sandbox,
        "submissions",
        {"name": "Ada", "slug": "ada", "email": "ada@example.com", "message": "See attached"},
    )
    metadata = {
        "webflow-item-id": item["id"],
        "webflow-collection-id": sandbox.collections["submissions"],
        "webflow-field": "attachment",
        "webflow-alt": "Ada's drawing",
    }
    blob = gcs.put("uploads/forms/2f9c1e/drawing.png", PNG, **metadata)

    assert deliver(events, finalized_event(blob)).status_code == 200

    (asset,) = assets(sandbox)
    attachment = get_item(sandbox, "submissions", item["id"])["fieldData"]["attachment"]
    assert attachment["fileId"] == asset["id"]
    assert attachment["alt"] == "Ada's drawing"


GALLERY_ITEM = {"name": "Private", "slug": "private", "image": {"url": "https://cdn.example/a.png"}}


def test_a_collection_not_open_to_attachments_is_refused_before_any_upload(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    # GIVEN an object whose metadata names an item of a collection not in UPLOAD_COLLECTION_IDS
    item = create_item(sandbox, "gallery", GALLERY_ITEM)
    metadata = {
        "webflow-item-id": item["id"],
        "webflow-collection-id": sandbox.collections["gallery"],
        "webflow-field": "image",
    }
    blob = gcs.put("uploads/forms/x/drawing.png", PNG, **metadata)

    # WHEN its event arrives THEN it is acknowledged, the reason recorded, nothing uploaded
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert assets(sandbox) == []
    assert "UPLOAD_COLLECTION_IDS" in ledger(gcs, blob.name)["webflow-error"]


def test_a_collection_named_by_slug_is_checked_once_resolved(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    item = create_item(sandbox, "gallery", GALLERY_ITEM)
    blob = gcs.put("uploads/gallery/private/image.png", PNG)
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert "UPLOAD_COLLECTION_IDS" in ledger(gcs, blob.name)["webflow-error"]
    assert (
        get_item(sandbox, "gallery", item["id"])["fieldData"]["image"] == item["fieldData"]["image"]
    )


@pytest.mark.parametrize(
    "item_id", ["../../../sites/66a0b6a5c1f1b2a3d4e5f601", "..%2f..%2fsites", "a" * 23]
)
def test_an_item_id_that_is_no_webflow_id_is_refused_without_reaching_webflow(
    events: Any, gcs: Any, sandbox: Any, item_id: str
) -> None:
    metadata = {
        "webflow-item-id": item_id,
        "webflow-collection-id": sandbox.collections["posts"],
        "webflow-field": "hero",
    }
    blob = gcs.put("uploads/forms/x/hero.png", PNG, **metadata)
    counter = RequestCounter(sandbox)
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert counter.routes("GET", "/sites/{site_id}") == 0
    assert assets(sandbox) == []
    assert "not a Webflow id" in ledger(gcs, blob.name)["webflow-error"]


def test_a_missing_item_is_recorded_and_acknowledged(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/posts/no-such-post/hero.png", PNG)
    assert deliver(events, finalized_event(blob)).status_code == 200
    recorded = ledger(gcs, "uploads/posts/no-such-post/hero.png")
    assert "no item with slug 'no-such-post'" in recorded["webflow-error"]
    assert recorded["webflow-asset-id"] == assets(sandbox)[0]["id"]  # the asset itself is kept


def test_a_folder_of_photos_fills_the_gallery(events: Any, gcs: Any, sandbox: Any) -> None:
    os.environ["INGEST_COLLECTION_ID"] = sandbox.collections["gallery"]
    names = ["gallery/summer_beach.png", "gallery/winter-hills.png"]
    for index, name in enumerate(names):
        blob = gcs.put(name, PNG + bytes([index]), **{"webflow-alt": f"Photo {index}"})
        event = finalized_event(blob)
        assert deliver(events, event).status_code == 200
        assert deliver(events, event).status_code == 200  # a redelivery adds nothing

    items = sorted(list_items(sandbox, "gallery"), key=lambda i: i["fieldData"]["slug"])
    ingested = [i for i in items if i["fieldData"]["slug"] in {"summer-beach", "winter-hills"}]
    assert [i["fieldData"]["name"] for i in ingested] == ["Summer beach", "Winter hills"]
    by_id = {a["id"]: a for a in assets(sandbox)}
    assert len(by_id) == 2
    assert all(i["fieldData"]["image"]["fileId"] in by_id for i in ingested)
    assert ingested[0]["fieldData"]["image"]["alt"] == "Photo 0"


def test_gallery_ingestion_moves_past_a_slug_held_by_another_item(
    events: Any, gcs: Any, sandbox: Any
) -> None:
    os.environ["INGEST_COLLECTION_ID"] = sandbox.collections["gallery"]
    with sandbox.api() as api:  # an unrelated image item already holds the slug
        upload = api.post(
            f"/sites/{sandbox.site_id}/assets", json={"fileName": "x.png", "fileHash": "0" * 32}
        )
    taken = create_item(
        sandbox,
        "gallery",
        {
            "name": "Sunset",
            "slug": "sunset",
            "image": {"fileId": upload.json()["id"], "url": "http://x/x.png"},
        },
    )
    blob = gcs.put("gallery/sunset.png", PNG)

    assert deliver(events, finalized_event(blob)).status_code == 200

    ours = [
        i
        for i in list_items(sandbox, "gallery")
        if i["id"] != taken["id"] and i["fieldData"]["name"] == "Sunset"
    ]
    assert [i["fieldData"]["slug"] for i in ours] == ["sunset-2"]
    assert (
        ours[0]["fieldData"]["image"]["fileId"]
        == ledger(gcs, "gallery/sunset.png")["webflow-asset-id"]
    )


# -- failures and retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 7, 11, 23, 42, 99])
def test_webflow_faults_lose_nothing_and_duplicate_nothing(
    events: Any, gcs: Any, sandbox: Any, seed: int
) -> None:
    # Spurious 429s are left out: the client then paces the token for a whole minute, longer than a test.
    # No retries inside the client: every fault reaches the handler, which raises for a redelivery.
    os.environ["WEBFLOW_MAX_RETRY_SECONDS"] = "0"
    sys.modules["main"].reset_state()
    item = create_item(sandbox, "posts", {"name": "Faulty", "slug": "faulty"})
    blob = gcs.put("uploads/posts/faulty/hero.png", PNG)
    event = finalized_event(blob)
    sandbox.configure(faults={"errorRate": 0.3, "dropAfterWriteRate": 0.3, "seed": seed})

    statuses = []
    for _attempt in range(60):  # the platform redelivers while the handler raises
        statuses.append(deliver(events, event).status_code)
        if statuses[-1] == 200:
            break
    sandbox.configure(faults={})

    assert statuses[-1] == 200
    assert 500 in statuses
    recorded = ledger(gcs, "uploads/posts/faulty/hero.png")
    assert [a["id"] for a in assets(sandbox)] == [recorded["webflow-asset-id"]]
    assert (
        get_item(sandbox, "posts", item["id"])["fieldData"]["hero"]["fileId"]
        == recorded["webflow-asset-id"]
    )
    assert "webflow-claim" not in recorded
    assert "webflow-error" not in recorded
    assert deliver(events, event).status_code == 200
    assert len(assets(sandbox)) == 1


@pytest.mark.parametrize("seed", [5, 17, 31])
def test_gallery_ingestion_under_faults_creates_one_item(
    events: Any, gcs: Any, sandbox: Any, seed: int
) -> None:
    os.environ.update(
        {"INGEST_COLLECTION_ID": sandbox.collections["gallery"], "WEBFLOW_MAX_RETRY_SECONDS": "0"}
    )
    sys.modules["main"].reset_state()
    before = {i["id"] for i in list_items(sandbox, "gallery")}
    blob = gcs.put("gallery/harbour.png", PNG)
    event = finalized_event(blob)
    sandbox.configure(faults={"errorRate": 0.3, "dropAfterWriteRate": 0.3, "seed": seed})

    statuses = []
    for _attempt in range(60):
        statuses.append(deliver(events, event).status_code)
        if statuses[-1] == 200:
            break
    sandbox.configure(faults={})

    assert statuses[-1] == 200
    assert 500 in statuses
    new = [i for i in list_items(sandbox, "gallery") if i["id"] not in before]
    (asset,) = assets(sandbox)
    assert len(new) == 1
    assert new[0]["fieldData"]["image"]["fileId"] == asset["id"]
    assert ledger(gcs, "gallery/harbour.png")["webflow-ingested-item-id"] == new[0]["id"]


def test_a_crash_after_the_upload_reuses_the_asset(
    events: Any, gcs: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger write after a finished upload failed: the retry must not create a second asset."""
    from shared.uploads.ledger import MarkerLedger

    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    fail_first_call(
        monkeypatch,
        MarkerLedger,
        "record_success",
        ConnectionError("lost the connection to Cloud Storage"),
    )
    assert deliver(events, event).status_code == 500
    assert ledger(gcs, "uploads/photo.png").get("webflow-pending-asset-id")
    assert deliver(events, event).status_code == 200

    (asset,) = assets(sandbox)
    assert ledger(gcs, "uploads/photo.png")["webflow-asset-id"] == asset["id"]


def test_a_crash_before_the_bytes_arrived_replaces_the_asset(
    events: Any, gcs: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asset was created but its upload failed: the retry creates a fresh one and uploads it."""
    from shared.webflow import WebflowClient
    from shared.webflow.errors import WebflowConnectionError

    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    fail_first_call(
        monkeypatch,
        WebflowClient,
        "upload_to_presigned",
        WebflowConnectionError("upload connection reset"),
    )
    assert deliver(events, event).status_code == 500
    abandoned = ledger(gcs, "uploads/photo.png")["webflow-pending-asset-id"]
    assert deliver(events, event).status_code == 200

    (asset,) = assets(sandbox)
    assert asset["id"] != abandoned
    assert ledger(gcs, "uploads/photo.png")["webflow-asset-id"] == asset["id"]


def test_a_storage_outage_raises_for_redelivery(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    os.environ["STORAGE_EMULATOR_HOST"] = "http://127.0.0.1:9"  # nothing listens there
    sys.modules["main"].reset_state()
    assert deliver(events, event).status_code == 500
    os.environ["STORAGE_EMULATOR_HOST"] = gcs.host
    sys.modules["main"].reset_state()
    assert deliver(events, event).status_code == 200
    assert len(assets(sandbox)) == 1


def test_other_event_types_are_acknowledged(events: Any, gcs: Any, sandbox: Any) -> None:
    blob = gcs.put("uploads/photo.png", PNG)
    event = finalized_event(blob)
    event["type"] = "google.cloud.storage.object.v1.metadataUpdated"
    assert deliver(events, event).status_code == 200
    assert assets(sandbox) == []


# -- the HTTP entry ---------------------------------------------------------------------------------------


def test_http_entry_uploads_by_bucket_and_name(http_client: Any, gcs: Any, sandbox: Any) -> None:
    gcs.put("uploads/report.pdf", PDF, content_type="application/pdf")
    body = {"bucket": gcs.bucket_name, "name": "uploads/report.pdf"}
    headers = {"Authorization": f"Bearer {API_KEY}"}

    first = http_client.post("/", json=body, headers=headers)
    again = http_client.post("/", json=body, headers=headers)

    assert first.status_code == 200
    assert first.get_json()["status"] == "uploaded"
    assert again.status_code == 200
    assert again.get_json()["status"] == "already_processed"
    assert first.get_json()["assetId"] == again.get_json()["assetId"] == assets(sandbox)[0]["id"]


def test_http_entry_requires_an_api_key(http_client: Any, gcs: Any, sandbox: Any) -> None:
    response = http_client.post(
        "/",
        json={"bucket": gcs.bucket_name, "name": "uploads/x.png"},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert sandbox.stats()["total"] == 0


def test_http_entry_reports_a_rejection(http_client: Any, gcs: Any, sandbox: Any) -> None:
    gcs.put("uploads/tool.exe", b"MZ", content_type="application/octet-stream")
    response = http_client.post(
        "/",
        json={"bucket": gcs.bucket_name, "name": "uploads/tool.exe"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 422
    assert response.get_json()["reason"] == "extension .exe is not allowed"


def test_http_entry_validates_the_body(http_client: Any, gcs: Any) -> None:
    response = http_client.post(
        "/", json={"bucket": gcs.bucket_name}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 400


def test_http_entry_answers_409_while_another_run_holds_the_claim(
    http_client: Any, gcs: Any, sandbox: Any
) -> None:
    from shared.core.storage import Storage
    from shared.uploads.ledger import ledger_for

    gcs.put("uploads/photo.png", PNG)
    storage = Storage(gcs.client, emulated=True)
    info = storage.get_object(gcs.bucket_name, "uploads/photo.png")
    assert info is not None
    ledger_for(storage).claim(info, "someone-else", ttl_seconds=60)

    response = http_client.post(
        "/",
        json={"bucket": gcs.bucket_name, "name": "uploads/photo.png"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )

    assert response.status_code == 409
    assert response.headers["Retry-After"]
    assert response.get_json()["code"] == "in_progress"
    assert assets(sandbox) == []


def test_http_entry_defaults_to_and_keeps_to_the_configured_bucket(
    http_client: Any, gcs: Any, sandbox: Any
) -> None:
    os.environ["UPLOAD_BUCKET"] = gcs.bucket_name
    sys.modules["main"].reset_state()
    gcs.put("uploads/photo.png", PNG)
    auth = {"Authorization": f"Bearer {API_KEY}"}

    other = http_client.post(
        "/", json={"bucket": "someone-elses", "name": "uploads/photo.png"}, headers=auth
    )
    default = http_client.post("/", json={"name": "uploads/photo.png"}, headers=auth)

    assert other.status_code == 403
    assert other.get_json()["code"] == "bucket_not_allowed"
    assert default.status_code == 200
    assert default.get_json()["status"] == "uploaded"


def test_events_of_another_bucket_are_ignored(events: Any, gcs: Any, sandbox: Any) -> None:
    os.environ["UPLOAD_BUCKET"] = "the-real-uploads"
    sys.modules["main"].reset_state()
    blob = gcs.put("uploads/photo.png", PNG)
    assert deliver(events, finalized_event(blob)).status_code == 200
    assert assets(sandbox) == []
    assert ledger(gcs, "uploads/photo.png") == {}


def test_http_answers_match_docs_openapi(http_client: Any, gcs: Any, sandbox: Any) -> None:
    from tests.openapi_support import assert_matches, operation

    gcs.put("uploads/report.pdf", PDF, content_type="application/pdf")
    gcs.put("uploads/tool.exe", b"MZ", content_type="application/octet-stream")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    documented = operation("/upload-asset")["responses"]
    for name, expected in [
        ("uploads/report.pdf", 200),
        ("uploads/report.pdf", 200),
        ("uploads/tool.exe", 422),
        ("elsewhere/x.png", 200),
    ]:
        response = http_client.post(
            "/", json={"bucket": gcs.bucket_name, "name": name}, headers=auth
        )
        assert response.status_code == expected
        assert str(expected) in documented
        assert_matches(response.get_json(), "UploadOutcome")
    bad = http_client.post(
        "/", json={"bucket": gcs.bucket_name, "name": "x", "extra": 1}, headers=auth
    )
    assert bad.status_code == 400
    assert "400" in documented
    assert_matches(bad.get_json(), "Error")


# -- MultiImage and File fields (a sandbox whose posts also have them) ------------------------------------


@pytest.fixture(scope="module")
def media_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandbox whose posts collection also has a MultiImage field "photos" and a File field "brochure"."""
    from tests.conftest import running_sandbox
    from tests.support import REPO_ROOT

    seed = json.loads((REPO_ROOT / "sandbox" / "seed.json").read_text())
    posts = next(c for c in seed["sites"][0]["collections"] if c["slug"] == "posts")
    posts["fields"] += [
        {
            "id": "66a0b6a5c1f1b2a3d4e5f8f1",
            "slug": "photos",
            "displayName": "Photos",
            "type": "MultiImage",
            "isRequired": False,
        },
        {
            "id": "66a0b6a5c1f1b2a3d4e5f8f2",
            "slug": "brochure",
            "displayName": "Brochure",
            "type": "File",
            "isRequired": False,
        },
    ]
    seed_path = tmp_path_factory.mktemp("media-seed") / "seed.json"
    seed_path.write_text(json.dumps(seed))
    log_dir = tmp_path_factory.mktemp("media-sandbox")
    with running_sandbox(log_dir, extra=["--seed", str(seed_path)]) as sandbox:
        yield sandbox


@pytest.fixture
def media_events(media_sandbox: Any, gcs: Any) -> Iterator[Any]:
    """The CloudEvent entry point wired to the media sandbox."""
    media_sandbox.reset()
    os.environ.update(
        {
            "WEBFLOW_API_TOKEN": media_sandbox.token,
            "WEBFLOW_API_BASE_URL": media_sandbox.api_base_url,
            "WEBFLOW_SITE_ID": media_sandbox.site_id,
            "WEBFLOW_COLLECTION_ID": media_sandbox.collections["posts"],
            "UPLOAD_COLLECTION_IDS": "",
            "UPLOAD_PREFIX": "uploads/",
            "WEBFLOW_RATE_LIMIT_PER_MINUTE": "6000",
        }
    )
    app, module = _app("upload_asset", "cloudevent")
    yield app.test_client()
    module.reset_state()


def test_multi_image_files_are_appended_once_each(
    media_events: Any, gcs: Any, media_sandbox: Any
) -> None:
    item = create_item(media_sandbox, "posts", {"name": "Trip", "slug": "trip"})
    collection_id = media_sandbox.collections["posts"]
    # As create-items writes a form's files for a MultiImage input: <field>.<ext>, <field>-2.<ext>.
    for index, name in enumerate(["photos.png", "photos-2.png"]):
        blob = gcs.put(f"uploads/{collection_id}/trip/{name}", PNG + bytes([index]))
        event = finalized_event(blob)
        assert deliver(media_events, event).status_code == 200
        assert deliver(media_events, event).status_code == 200  # a redelivery appends nothing

    photos = get_item(media_sandbox, "posts", item["id"])["fieldData"]["photos"]
    assert sorted(p["fileId"] for p in photos) == sorted(a["id"] for a in assets(media_sandbox))
    assert len(photos) == 2


def test_a_document_goes_into_a_file_field(media_events: Any, gcs: Any, media_sandbox: Any) -> None:
    item = create_item(media_sandbox, "posts", {"name": "Menu", "slug": "menu"})
    blob = gcs.put("uploads/posts/menu/brochure.pdf", PDF, content_type="application/pdf")
    assert deliver(media_events, finalized_event(blob)).status_code == 200
    (asset,) = assets(media_sandbox)
    assert (
        get_item(media_sandbox, "posts", item["id"])["fieldData"]["brochure"]["fileId"]
        == asset["id"]
    )


def test_a_document_is_refused_by_an_image_field(
    media_events: Any, gcs: Any, media_sandbox: Any
) -> None:
    create_item(media_sandbox, "posts", {"name": "Menu", "slug": "menu"})
    blob = gcs.put("uploads/posts/menu/hero.pdf", PDF, content_type="application/pdf")
    assert deliver(media_events, finalized_event(blob)).status_code == 200
    assert (
        "cannot go into the Image field 'hero'"
        in ledger(gcs, "uploads/posts/menu/hero.pdf")["webflow-error"]
    )
