"""The intake queue end to end: create-items queues form posts, webhooks and asynchronous JSON
calls in fake-gcs-server, drain-intake writes them to the sandbox in bulk, exactly once.

Each test runs both functions as functions-framework apps against the worker's sandbox and a bucket
of its own; the drain's batch window is 0 so that a test does not wait for a burst to fill it.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.core.config import load_settings
from shared.core.storage import get_storage
from shared.intake.drain import DrainSettings, drain
from shared.intake.drain import main as drain_command
from shared.intake.queue import IntakeQueue, intake_queue
from shared.webflow import get_client
from tests.conftest import FakeGCS, Sandbox
from tests.create_items_support import (
    API_KEY,
    AUTH,
    FORM_FIELDS,
    ORIGIN,
    SUCCESS_URL,
    deliveries,
    item_by_name,
    list_items,
    make_app,
    post_raw,
    register_webhook,
    serve_app,
    writes,
)
from tests.functions.test_create_items_webhooks import signed_headers, submit
from tests.items_support import function_app
from tests.openapi_support import assert_matches

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JSON_ACCEPT = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Origin": ORIGIN}
FORM = {"Name": "Ada Lovelace", "Email": "ada@example.com", "Message": "Hello there"}
INTAKE_KEY = "intake-key-0123456789"


@pytest.fixture
def env(webflow_env: dict[str, str], sandbox: Sandbox, gcs: FakeGCS) -> dict[str, str]:
    """Forms and webhooks queued in the test's bucket; the drain takes what it finds at once."""
    values = {
        "WEBFLOW_COLLECTION_ID": sandbox.collections["submissions"],
        "FORM_INTAKE": "queue",
        "INTAKE_BUCKET": gcs.bucket_name,
        "UPLOAD_BUCKET": gcs.bucket_name,
        "INTAKE_BATCH_WINDOW_SECONDS": "0",
        "INTAKE_SCHEMA_WAIT_SECONDS": "0.5",
        # A run stops at a transient failure (the probing of Webflow's return is tested alone).
        "INTAKE_PROBE_SECONDS": "0",
        "INTAKE_API_KEYS": INTAKE_KEY,
        "FORM_SUCCESS_URL": SUCCESS_URL,
        "ALLOWED_ORIGINS": ORIGIN,
        "FORM_FIELDS": FORM_FIELDS,
        "FORM_RATE_LIMIT_PER_MINUTE": "0",
    }
    os.environ.update(values)
    return values


@pytest.fixture
def app(env: dict[str, str]) -> FlaskClient:
    return make_app(**env)


def drain_app(**env: str) -> FlaskClient:
    """drain-intake as a test client (its settings from the environment the fixtures set)."""
    return function_app("drain-intake", "drain_intake", **env)


def run_drain(**env: str) -> dict[str, Any]:
    """One drain through drain-intake's HTTP entry point (the scheduler's sweep)."""
    response = drain_app(**env).post("/", data=b"")
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def queue_of(gcs: FakeGCS) -> IntakeQueue:
    return IntakeQueue(get_storage(), gcs.bucket_name, "intake")


def names(gcs: FakeGCS, prefix: str = "") -> list[str]:
    return sorted(blob.name for blob in gcs.client.list_blobs(gcs.bucket_name, prefix=prefix))


# --- form posts ----------------------------------------------------------------------------


def test_a_form_post_is_answered_queued_and_the_drain_creates_its_item(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert_matches(body, "Queued")
    assert body["id"].startswith("form-")
    assert writes(sandbox) == 0  # the answer did not wait for Webflow
    assert names(gcs) == [f"intake/pending/{body['id']}.json"]

    report = run_drain()
    assert_matches(report, "DrainReport")
    assert (report["created"], report["failed"], report["remaining"]) == (1, 0, 0)
    item = item_by_name(sandbox, submissions, "Ada Lovelace")
    assert item is not None
    assert item["fieldData"]["email"] == "ada@example.com"
    assert item["isDraft"] is True  # public input stays a draft (FORM_CREATE_AS_DRAFT)
    done = gcs.bucket.get_blob(f"intake/done/{body['id']}.json")
    assert done is not None
    assert names(gcs, "intake/pending/") == []
    assert json.loads(done.metadata["intake-items"])[0]["id"] == item["id"]
    assert names(gcs, "intake/claims/") == []


def test_a_browser_is_redirected_to_the_success_page_once_the_post_is_queued(
    app: FlaskClient, gcs: FakeGCS
) -> None:
    response = app.post("/", data=FORM, headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS_URL
    assert len(names(gcs, "intake/pending/")) == 1


def test_a_double_click_is_one_object_and_one_item(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    first = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()
    second = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()
    assert first == second
    assert len(names(gcs, "intake/pending/")) == 1
    run_drain()
    # Sent again once it is done: queued anew, and the drain finds the item it made.
    assert app.post("/", data=FORM, headers=JSON_ACCEPT).get_json() == first
    report = run_drain()
    assert (report["created"], report["existing"]) == (0, 1)
    assert [i["fieldData"]["name"] for i in list_items(sandbox, submissions)] == ["Ada Lovelace"]


def test_an_invalid_post_is_refused_before_anything_is_written(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox
) -> None:
    response = app.post("/", data={**FORM, "Email": "not an address"}, headers=JSON_ACCEPT)
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["details"]] == ["Email"]
    assert names(gcs) == []


def test_the_honeypot_is_answered_as_usual_and_quarantined_not_queued(
    app: FlaskClient, gcs: FakeGCS
) -> None:
    response = app.post("/", data={**FORM, "_gotcha": "bot"}, headers=BROWSER)
    assert response.status_code == 303
    [kept] = names(gcs)
    assert kept.startswith("intake/spam/")
    assert gcs.bucket.get_blob(kept).metadata["intake-error"] == "honeypot"


def test_a_form_file_reaches_its_item_once_the_item_exists(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    data = {**FORM, "attachment": (io.BytesIO(PNG), "me.png", "image/png"), "attachment_alt": "Me"}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    queued = response.get_json()["id"]
    assert names(gcs, "uploads/") == []  # nothing for upload-asset before the item exists
    assert names(gcs, f"intake/files/{queued}/") == [f"intake/files/{queued}/0.png"]

    run_drain()
    item = item_by_name(sandbox, submissions, "Ada Lovelace")
    assert item is not None
    slug = item["fieldData"]["slug"]
    blob = gcs.bucket.get_blob(f"uploads/{submissions}/{slug}/attachment.png")
    assert blob is not None
    assert blob.download_as_bytes() == PNG
    assert blob.metadata == {
        "webflow-item-id": item["id"],
        "webflow-item-slug": slug,
        "webflow-collection-id": submissions,
        "webflow-field": "attachment",
        "webflow-alt": "Me",
    }
    assert names(gcs, "intake/files/") == []


def test_a_storage_failure_is_503_with_retry_after(env: dict[str, str]) -> None:
    app = make_app(**{**env, "INTAKE_BUCKET": "no-such-bucket-for-intake"})
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 503
    assert response.get_json()["code"] == "storage_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_queueing_without_a_bucket_is_a_configuration_error(
    env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("INTAKE_BUCKET")
    os.environ.pop("UPLOAD_BUCKET")
    app = make_app(**{k: v for k, v in env.items() if not k.endswith("_BUCKET")})
    capfd.readouterr()
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 500
    assert response.get_json()["code"] == "configuration_error"
    assert "INTAKE_BUCKET" in capfd.readouterr().out


def test_the_synchronous_path_is_kept_by_a_setting(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    app = make_app(**{**env, "FORM_INTAKE": "sync"})
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 201
    assert item_by_name(sandbox, submissions, "Ada Lovelace") is not None
    assert names(gcs) == []


# --- outages -------------------------------------------------------------------------------


def test_posts_during_an_outage_are_kept_and_created_after_recovery(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    sandbox.configure(faults={"errorRate": 1.0})
    for n in range(3):
        response = app.post("/", data={**FORM, "Name": f"Visitor {n}"}, headers=BROWSER)
        assert response.status_code == 303
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1")
    assert (report["created"], report["deferred"], report["failed"]) == (0, 3, 0)
    assert len(names(gcs, "intake/pending/")) == 3
    assert names(gcs, "intake/claims/") == []

    sandbox.configure(faults={"errorRate": 0.0})
    report = run_drain()
    assert (report["created"], report["remaining"]) == (3, 0)
    assert len(list_items(sandbox, submissions)) == 3


def test_a_cold_instance_queues_unchecked_and_a_refused_submission_is_failed_then_replayed(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    sandbox.configure(faults={"errorRate": 1.0})
    # No schema could be had: only the structural checks, so a missing required field passes.
    response = app.post(
        "/", data={"Email": "nameless@example.com", "Message": "Hi"}, headers=JSON_ACCEPT
    )
    assert response.status_code == 202
    queued = response.get_json()["id"]
    sandbox.configure(faults={"errorRate": 0.0})

    report = run_drain()
    assert (report["created"], report["failed"]) == (0, 1)
    failed = gcs.bucket.get_blob(f"intake/failed/{queued}.json")
    assert failed is not None
    assert "name" in failed.metadata["intake-error"]

    status = drain_app().get("/?state=failed", headers={"Authorization": f"Bearer {INTAKE_KEY}"})
    assert status.status_code == 200
    [entry] = status.get_json()["failed"]
    assert_matches(entry, "FailedSubmission")
    assert entry["id"] == queued
    assert "name" in entry["reason"]

    # The fix: a default for the field the form lacks; then replay (twice: idempotent).
    os.environ["FIELD_DEFAULTS"] = json.dumps({"name": "Anonymous"})
    replay = drain_app().post(
        "/", json={"replay": [queued]}, headers={"Authorization": f"Bearer {INTAKE_KEY}"}
    )
    assert replay.get_json() == {"replayed": [queued]}
    again = drain_app().post(
        "/", json={"replay": "all"}, headers={"Authorization": f"Bearer {INTAKE_KEY}"}
    )
    assert again.get_json() == {"replayed": []}
    assert run_drain()["created"] == 1
    assert item_by_name(sandbox, submissions, "Anonymous") is not None


def test_status_and_replay_need_the_intake_key(env: dict[str, str]) -> None:
    client = drain_app()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {API_KEY}x"}).status_code == 401
    assert client.post("/", json={"replay": "all"}).status_code == 401
    counts = client.get("/", headers={"Authorization": f"Bearer {INTAKE_KEY}"}).get_json()
    assert_matches(counts, "IntakeCounts")
    assert counts == {"queued": 0, "done": 0, "failed": 0, "spam": 0, "queuedBytes": 0}


def test_the_command_lists_and_replays_the_failed_set(
    app: FlaskClient, gcs: FakeGCS, capsys: pytest.CaptureFixture[str]
) -> None:
    gcs.put("intake/pending/form-unreadable.json", b"{not json", content_type="application/json")
    assert drain_command(["drain"]) == 1
    capsys.readouterr()
    assert drain_command(["status"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "queued": 0,
        "done": 0,
        "failed": 1,
        "spam": 0,
        "queuedBytes": 0,
    }
    assert drain_command(["failed"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["id"] == "form-unreadable"
    assert entry["reason"].startswith("unreadable")
    assert drain_command(["replay", "--all"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": ["form-unreadable"]}
    assert names(gcs, "intake/pending/") == ["intake/pending/form-unreadable.json"]


def test_an_invalid_replay_request_names_the_field(env: dict[str, str]) -> None:
    response = drain_app().post(
        "/", json={"replay": 3}, headers={"Authorization": f"Bearer {INTAKE_KEY}"}
    )
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "replay"


# --- webhooks ------------------------------------------------------------------------------


@pytest.fixture
def served(env: dict[str, str], sandbox: Sandbox) -> Iterator[tuple[str, str]]:
    """create-items on a real port, queueing, with a registered webhook; yields (url, secret)."""
    with serve_app(**env) as url:
        key = register_webhook(sandbox, url)
        os.environ["WEBFLOW_WEBHOOK_SECRET"] = key
        yield url, key


def test_a_webhook_delivered_twice_and_again_after_done_is_one_item(
    served: tuple[str, str], sandbox: Sandbox, submissions: str, gcs: FakeGCS
) -> None:
    url, secret = served
    delivery = submit(
        sandbox, "Contact", {"Name": "Marie Curie", "Email": "m@example.com", "Message": "Ra"}
    )
    assert deliveries(sandbox)[0]["statuses"] == [202]
    body = json.dumps(delivery["payload"]).encode()
    again = post_raw(url, body, signed_headers(secret, body))
    assert again.status_code == 202
    assert again.json()["id"] == f"webhook-{delivery['payload']['payload']['id']}"
    assert len(names(gcs, "intake/pending/")) == 1

    assert run_drain()["created"] == 1
    late = post_raw(url, body, signed_headers(secret, body))
    assert late.status_code == 202
    report = run_drain()
    assert (report["created"], report["existing"]) == (0, 1)
    assert [i["fieldData"]["name"] for i in list_items(sandbox, submissions)] == ["Marie Curie"]


def test_an_invalid_webhook_is_acknowledged_and_not_queued(
    served: tuple[str, str], gcs: FakeGCS
) -> None:
    url, secret = served
    payload = {
        "triggerType": "form_submission",
        "payload": {"id": "bad-1", "name": "Contact", "data": {"Name": "X", "Email": "nope"}},
    }
    body = json.dumps(payload).encode()
    answer = post_raw(url, body, signed_headers(secret, body))
    assert answer.status_code == 202  # acknowledged: Webflow would only send it again
    assert answer.json()["acknowledged"] is True
    assert answer.json()["details"][0]["field"] == "Email"
    assert names(gcs) == []


# --- asynchronous JSON calls ---------------------------------------------------------------


def test_a_json_call_preferring_async_is_queued_and_drained(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, posts: str
) -> None:
    items = [{"fieldData": {"name": f"Queued {n}"}} for n in range(3)]
    headers = {**AUTH, "Prefer": "respond-async", "Idempotency-Key": "batch-1"}
    body = {"collectionId": posts, "items": items}
    response = app.post("/", json=body, headers=headers)
    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "respond-async"
    queued = response.get_json()["id"]
    assert app.post("/", json=body, headers=headers).get_json()["id"] == queued
    report = run_drain()
    assert (report["created"], report["batches"]) == (3, 1)
    assert {i["fieldData"]["name"] for i in list_items(sandbox, posts)} >= {"Queued 0", "Queued 2"}


def test_an_async_call_with_an_invalid_item_queues_nothing(
    app: FlaskClient, gcs: FakeGCS, posts: str
) -> None:
    items = [{"fieldData": {"name": "fine"}}, {"fieldData": {"name": "bad", "rating": "many"}}]
    response = app.post(
        "/",
        json={"collectionId": posts, "items": items},
        headers={**AUTH, "Prefer": "respond-async"},
    )
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "items[1].fieldData.rating"
    assert names(gcs) == []


def test_without_the_preference_a_json_call_stays_synchronous(
    app: FlaskClient, gcs: FakeGCS, posts: str
) -> None:
    response = app.post(
        "/", json={"collectionId": posts, "items": [{"fieldData": {"name": "n"}}]}, headers=AUTH
    )
    assert response.status_code == 201
    assert names(gcs) == []


# --- the drain -----------------------------------------------------------------------------


def test_a_corrupt_object_goes_to_the_failed_set_with_the_reason(
    env: dict[str, str], gcs: FakeGCS
) -> None:
    gcs.put("intake/pending/form-torn.json", b'{"version": 1, "id":', "application/json")
    report = run_drain()
    assert report["failed"] == 1
    failed = gcs.bucket.get_blob("intake/failed/form-torn.json")
    assert failed is not None
    assert failed.metadata["intake-error"].startswith("unreadable")


def test_many_submissions_go_in_one_request(
    app: FlaskClient, sandbox: Sandbox, submissions: str
) -> None:
    for n in range(150):
        assert (
            app.post("/", data={**FORM, "Name": f"Visitor {n}"}, headers=JSON_ACCEPT).status_code
            == 202
        )
    report = run_drain()
    assert (report["created"], report["batches"]) == (150, 2)  # 100 + 50 items
    assert len(list_items(sandbox, submissions)) == 150


def test_two_drains_racing_create_each_item_once(
    app: FlaskClient, env: dict[str, str], sandbox: Sandbox, submissions: str
) -> None:
    for n in range(40):
        assert (
            app.post("/", data={**FORM, "Name": f"Racer {n}"}, headers=JSON_ACCEPT).status_code
            == 202
        )
    settings = load_settings(DrainSettings)
    reports: list[Any] = []

    def one() -> None:
        reports.append(drain(intake_queue(settings, get_storage()), get_client(settings), settings))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.created + r.existing for r in reports) == 40
    created = list_items(sandbox, submissions)
    assert len(created) == 40 == len({i["fieldData"]["name"] for i in created})


def test_a_drain_killed_after_the_create_resolves_to_the_items_it_made(
    app: FlaskClient,
    env: dict[str, str],
    gcs: FakeGCS,
    sandbox: Sandbox,
    submissions: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        app.post("/", data={**FORM, "Name": f"Visitor {n}"})
    os.environ["INTAKE_CLAIM_SECONDS"] = "0.001"  # the dead drain's claims lapse at once
    settings = load_settings(DrainSettings)
    del os.environ["INTAKE_CLAIM_SECONDS"]

    class Killed(BaseException):
        pass

    def killed(*_args: Any) -> None:
        raise Killed

    # The process dies between Webflow's answer and the first state change: items exist, the
    # objects are still pending and their claims are left to lapse.
    monkeypatch.setattr(IntakeQueue, "finish", killed)
    with pytest.raises(Killed):
        drain(queue_of(gcs), get_client(settings), settings)
    monkeypatch.undo()
    assert len(list_items(sandbox, submissions)) == 5

    report = run_drain()
    assert (report["created"], report["existing"], report["remaining"]) == (0, 5, 0)
    assert len(list_items(sandbox, submissions)) == 5


def test_a_storage_event_for_a_pending_object_drains_and_others_are_ignored(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    queued = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()["id"]
    client = drain_app()
    headers = {
        "ce-id": "1",
        "ce-specversion": "1.0",
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{gcs.bucket_name}",
        "ce-type": "google.cloud.storage.object.v1.finalized",
    }
    other = client.post(
        "/", json={"bucket": gcs.bucket_name, "name": "uploads/photo.png"}, headers=headers
    )
    assert other.get_json() == {"ignored": "uploads/photo.png"}
    assert writes(sandbox) == 0
    event = {"bucket": gcs.bucket_name, "name": f"intake/pending/{queued}.json"}
    response = client.post("/", json=event, headers=headers)
    assert response.get_json()["created"] == 1
    assert item_by_name(sandbox, submissions, "Ada Lovelace") is not None
