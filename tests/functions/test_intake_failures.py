"""Nothing lost: the intake through Webflow's failures, form files that map nowhere, the order in
which a large queue drains, and Idempotency-Keys that cannot carry another body.

Each test runs create-items and drain-intake as functions-framework apps against the worker's
sandbox (its faults injected through the control API) and a bucket of fake-gcs-server.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.webflow import get_client
from shared.webflow.pacing import reset_limiters
from tests.conftest import FakeGCS, Sandbox
from tests.create_items_support import (
    AUTH,
    OTHER_KEY,
    item_by_name,
    list_items,
    make_app,
)
from tests.functions import test_intake as intake
from tests.functions.test_create_items_webhooks import signed_headers
from tests.functions.test_intake import (
    FORM,
    INTAKE_KEY,
    JSON_ACCEPT,
    PNG,
    drain_app,
    names,
    run_drain,
)

# The intake's fixtures: its environment (a bucket, no batch window) and create-items' app.
env = intake.env
app = intake.app


def creates(sandbox: Sandbox) -> int:
    """Create requests the sandbox saw (answered or not)."""
    by_route = sandbox.stats()["byRoute"]
    return sum(count for route, count in by_route.items() if route.startswith("POST "))


def fresh_clients() -> None:
    """A new instance's clients: its pacing forgets a window the test filled on purpose."""
    reset_limiters()
    get_client.cache_clear()


# --- the outage of ../repro: writes fail, reads work, the drain's retries run out ----------------


def test_a_failed_create_whose_look_up_finds_nothing_leaves_the_submissions_pending(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    for n in range(3):
        assert (
            app.post("/", data={**FORM, "Name": f"Visitor {n}"}, headers=JSON_ACCEPT).status_code
            == 202
        )
    # Every create answers 500 while reads work: the lost answer's look-up finds no item.
    sandbox.configure(faults={"errorRate": 1.0, "faultsOn": "writes"})
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1")
    assert (report["created"], report["failed"], report["deferred"]) == (0, 0, 3)
    assert len(names(gcs, "intake/pending/")) == 3
    assert names(gcs, "intake/failed/") == []

    sandbox.configure(faults={})
    report = run_drain()
    assert (report["created"], report["failed"], report["remaining"]) == (3, 0, 0)
    assert len(list_items(sandbox, submissions)) == 3


def test_a_transient_failure_stops_the_run_instead_of_sending_again_until_its_deadline(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox
) -> None:
    assert app.post("/", data=FORM, headers=JSON_ACCEPT).status_code == 202
    sandbox.configure(faults={"errorRate": 1.0, "faultsOn": "writes"})
    started = sandbox.stats()
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1", INTAKE_MAX_RUN_SECONDS="10")
    assert report["deferred"] == 1
    sent = creates(sandbox) - sum(
        count for route, count in started["byRoute"].items() if route.startswith("POST ")
    )
    # One create and its retries within one second's budget: the run stopped on them.
    assert 1 <= sent <= 4


def test_a_failed_set_entry_of_a_transient_cause_is_replayed_by_the_next_run(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str, app: FlaskClient
) -> None:
    queued = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()["id"]
    pending = gcs.bucket.get_blob(f"intake/pending/{queued}.json")
    content = bytes(pending.download_as_bytes())
    pending.delete()
    # As an older version left them: an outage's 500 taken for Webflow's verdict, and a refusal.
    reasons = {
        queued: "refused by Webflow: entry 0: internal_error",
        "form-refused": "invalid: entry 0: name: is required",
    }
    for submission_id, reason in reasons.items():
        gcs.put(
            f"intake/failed/{submission_id}.json",
            content,
            "application/json",
            **{"intake-error": reason},
        )
    report = run_drain()
    assert (report["replayed"], report["created"]) == (1, 1)
    assert item_by_name(sandbox, submissions, "Ada Lovelace") is not None
    assert names(gcs, "intake/failed/") == ["intake/failed/form-refused.json"]


# --- progress of a large submission --------------------------------------------------------


def test_entries_created_before_a_transient_failure_are_not_sent_again(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, posts: str
) -> None:
    items = [{"fieldData": {"name": f"Bulk {n}", "slug": f"bulk-{n}"}} for n in range(150)]
    response = app.post(
        "/",
        json={"collectionId": posts, "items": items},
        headers={**AUTH, "Prefer": "respond-async"},
    )
    assert response.status_code == 202
    before = len(list_items(sandbox, posts))
    # Two calls a minute: the schema and the first 100 items; the second request is refused
    # with a Retry-After far beyond the retry budget.
    sandbox.configure(rateLimitPerMinute=2)
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1")
    assert (report["created"], report["failed"], report["deferred"]) == (100, 0, 1)
    assert len(list_items_unlimited(sandbox, posts)) == before + 100

    sandbox.configure(rateLimitPerMinute=0)
    fresh_clients()
    started = creates(sandbox)
    report = run_drain()
    assert (report["created"], report["existing"], report["remaining"]) == (50, 0, 0)
    assert creates(sandbox) - started == 1  # only the 50 left
    made = [i for i in list_items(sandbox, posts) if i["fieldData"]["name"].startswith("Bulk ")]
    assert len(made) == 150 == len({i["fieldData"]["slug"] for i in made})


def list_items_unlimited(sandbox: Sandbox, collection_id: str) -> list[dict[str, Any]]:
    """The collection's items, read while the sandbox's rate limit is low (the control token)."""
    sandbox.configure(rateLimitPerMinute=0)
    try:
        return list_items(sandbox, collection_id)
    finally:
        sandbox.configure(rateLimitPerMinute=2)


# --- a form file that maps to no field -----------------------------------------------------


def test_a_form_file_that_maps_to_no_field_is_dropped_as_the_synchronous_path_drops_it(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    data = {**FORM, "Resume": (io.BytesIO(PNG), "resume.png", "image/png")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert names(gcs, "intake/files/") == []  # not kept: it goes nowhere
    report = run_drain()
    assert (report["created"], report["failed"]) == (1, 0)
    assert item_by_name(sandbox, submissions, "Ada Lovelace") is not None


def test_a_file_kept_without_a_schema_that_maps_to_no_field_does_not_fail_its_submission(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    sandbox.configure(faults={"errorRate": 1.0})  # a cold instance: no schema at intake
    data = {**FORM, "Resume": (io.BytesIO(PNG), "resume.png", "image/png")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert len(names(gcs, "intake/files/")) == 1
    sandbox.configure(faults={})
    report = run_drain()
    assert (report["created"], report["failed"]) == (1, 0)
    assert names(gcs, "intake/files/") == []
    assert not [name for name in names(gcs) if name.startswith("forms/")]


# --- order ---------------------------------------------------------------------------------


def test_more_than_a_listing_page_pending_is_taken_oldest_first(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    def submission(submission_id: str, name: str) -> bytes:
        body = {
            "version": 1,
            "id": submission_id,
            "kind": "webhook",
            "collection_id": submissions,
            "entries": [{"fieldData": {"Name": name, "Email": "a@example.com", "Message": "Hi"}}],
            "slug_key": f"webhook:{submission_id}",
        }
        return json.dumps(body).encode()

    # The oldest has the name that sorts last; a thousand newer ones sort before it.
    oldest = "webhook-" + "f" * 32
    gcs.put(f"intake/pending/{oldest}.json", submission(oldest, "The oldest"), "application/json")
    time.sleep(0.05)
    for n in range(1000):
        newer = f"webhook-{n:032x}"
        gcs.put(f"intake/pending/{newer}.json", submission(newer, f"Newer {n}"), "application/json")
    # Two calls a minute: the schema and one create, so one batch of 100 is all this run writes.
    sandbox.configure(rateLimitPerMinute=2)
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1")
    assert report["created"] == 100
    sandbox.configure(rateLimitPerMinute=0)
    assert item_by_name(sandbox, submissions, "The oldest") is not None


# --- Idempotency-Key -----------------------------------------------------------------------


def test_an_idempotency_key_is_the_callers_own_and_holds_one_body(
    app: FlaskClient, env: dict[str, str], posts: str
) -> None:
    os.environ["CREATE_ITEMS_API_KEYS"] = f"{AUTH['Authorization'].split()[1]},{OTHER_KEY}"
    app = make_app_again(env)
    body = {"collectionId": posts, "items": [{"fieldData": {"name": "Keyed"}}]}
    headers = {**AUTH, "Prefer": "respond-async", "Idempotency-Key": "k-1"}
    first = app.post("/", json=body, headers=headers)
    assert first.status_code == 202
    again = app.post("/", json=body, headers=headers)
    assert (again.status_code, again.get_json()["id"]) == (202, first.get_json()["id"])

    other_body = {"collectionId": posts, "items": [{"fieldData": {"name": "Another"}}]}
    clash = app.post("/", json=other_body, headers=headers)
    assert clash.status_code == 422
    assert clash.get_json()["code"] == "idempotency_key_reused"
    assert clash.get_json()["details"][0]["field"] == "Idempotency-Key"

    # Another caller's same key is another submission.
    theirs = app.post(
        "/", json=other_body, headers={**headers, "Authorization": f"Bearer {OTHER_KEY}"}
    )
    assert theirs.status_code == 202
    assert theirs.get_json()["id"] != first.get_json()["id"]


def make_app_again(values: dict[str, str]) -> FlaskClient:
    """create-items with the environment as the test left it."""
    return make_app(**{**values, "CREATE_ITEMS_API_KEYS": os.environ["CREATE_ITEMS_API_KEYS"]})


# --- a bound on the queue ------------------------------------------------------------------


def test_a_full_queue_refuses_posts_with_retry_after_and_still_keeps_webhooks(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    app = make_app(**{**env, "INTAKE_MAX_PENDING": "2"})
    for n in range(2):
        assert app.post("/", data={**FORM, "Name": f"V{n}"}, headers=JSON_ACCEPT).status_code == 202
    refused = app.post("/", data={**FORM, "Name": "V2"}, headers=JSON_ACCEPT)
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "intake_full"
    assert int(refused.headers["Retry-After"]) > 0
    assert len(names(gcs, "intake/pending/")) == 2

    # The status reports what is held; once drained, posts are taken again.
    status = drain_app().get("/", headers={"Authorization": f"Bearer {INTAKE_KEY}"}).get_json()
    assert status["queued"] == 2
    assert status["queuedBytes"] > 0
    assert run_drain()["created"] == 2
    fresh = make_app(**{**env, "INTAKE_MAX_PENDING": "2"})
    assert fresh.post("/", data={**FORM, "Name": "V2"}, headers=JSON_ACCEPT).status_code == 202


def test_a_byte_cap_counts_the_kept_files(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    app = make_app(**{**env, "INTAKE_MAX_PENDING_BYTES": "1000"})
    photo = {"Attachment": (io.BytesIO(PNG + b"\x00" * 2000), "a.png", "image/png")}
    first = app.post(
        "/", data={**FORM, **photo}, headers=JSON_ACCEPT, content_type="multipart/form-data"
    )
    assert first.status_code == 202, first.get_json()
    assert app.post("/", data={**FORM, "Name": "Next"}, headers=JSON_ACCEPT).status_code == 503


def test_a_webhook_is_kept_while_the_queue_is_full(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    secret = "whsec-intake-0123456789"
    app = make_app(**{**env, "INTAKE_MAX_PENDING": "1", "WEBFLOW_WEBHOOK_SECRET": secret})
    assert app.post("/", data=FORM, headers=JSON_ACCEPT).status_code == 202
    assert app.post("/", data={**FORM, "Name": "B"}, headers=JSON_ACCEPT).status_code == 503
    payload = {
        "triggerType": "form_submission",
        "payload": {
            "id": "a" * 24,
            "name": "Contact",
            "siteId": sandbox.site_id,
            "data": FORM,
            "submittedAt": "2026-12-06T10:00:00.000Z",
        },
    }
    body = json.dumps(payload).encode()
    response = app.post("/", data=body, headers=signed_headers(secret, body))
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    assert len(names(gcs, "intake/pending/")) == 2


def test_a_run_that_meets_an_outage_goes_on_as_soon_as_webflow_is_back(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    import threading

    assert app.post("/", data=FORM, headers=JSON_ACCEPT).status_code == 202
    sandbox.configure(faults={"errorRate": 1.0})
    lifted = threading.Timer(1.5, lambda: sandbox.configure(faults={}))
    lifted.start()
    try:
        report = run_drain(
            WEBFLOW_MAX_RETRY_SECONDS="0.5",
            INTAKE_PROBE_SECONDS="0.5",
            INTAKE_MAX_RUN_SECONDS="30",
        )
    finally:
        lifted.join()
    # One run: deferred by the outage, then written once a probe found Webflow back.
    assert (report["deferred"], report["created"], report["remaining"]) == (1, 1, 0)
    assert item_by_name(sandbox, submissions, FORM["Name"]) is not None


def test_an_idempotency_key_still_holds_its_body_once_the_call_was_written(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, posts: str
) -> None:
    body = {"collectionId": posts, "items": [{"fieldData": {"name": "Written once"}}]}
    headers = {**AUTH, "Prefer": "respond-async", "Idempotency-Key": "k-done"}
    first = app.post("/", json=body, headers=headers).get_json()["id"]
    assert run_drain()["created"] == 1
    # The same call again: the same answer, nothing queued again.
    again = app.post("/", json=body, headers=headers)
    assert (again.status_code, again.get_json()["id"]) == (202, first)
    assert names(gcs, "intake/pending/") == []
    # Another body under the written call's key: refused, not queued.
    other = {"collectionId": posts, "items": [{"fieldData": {"name": "Something else"}}]}
    clash = app.post("/", json=other, headers=headers)
    assert clash.status_code == 422
    assert names(gcs, "intake/pending/") == []


def test_spam_is_dropped_once_the_quarantine_holds_the_byte_cap_and_visitors_still_get_in(
    env: dict[str, str], gcs: FakeGCS
) -> None:
    app = make_app(**{**env, "INTAKE_MAX_PENDING_BYTES": "600"})
    spam = {**FORM, "_gotcha": "bot", "Message": "x" * 500}
    for n in range(3):
        response = app.post("/", data={**spam, "Name": f"Bot {n}"}, headers=JSON_ACCEPT)
        assert response.status_code == 202  # a bot learns nothing from the answer
    assert len(names(gcs, "intake/spam/")) == 1  # the first filled the quarantine's share
    visitor = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert visitor.status_code == 202
    assert len(names(gcs, "intake/pending/")) == 1


def test_progress_that_cannot_be_recorded_costs_look_ups_not_items(
    app: FlaskClient,
    gcs: FakeGCS,
    sandbox: Sandbox,
    posts: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.core.storage import StorageError
    from shared.intake.queue import IntakeQueue

    def unwritable(*_args: Any) -> bool:
        raise StorageError("Cloud Storage failed while writing")

    items = [{"fieldData": {"name": f"Kept {n}", "slug": f"kept-{n}"}} for n in range(150)]
    body = {"collectionId": posts, "items": items}
    assert app.post("/", json=body, headers={**AUTH, "Prefer": "respond-async"}).status_code == 202
    sandbox.configure(rateLimitPerMinute=2)
    monkeypatch.setattr(IntakeQueue, "rewrite", unwritable)
    report = run_drain(WEBFLOW_MAX_RETRY_SECONDS="1")
    monkeypatch.undo()
    assert (report["deferred"], report["failed"], report["remaining"]) == (1, 0, 1)

    sandbox.configure(rateLimitPerMinute=0)
    fresh_clients()
    report = run_drain()
    # Unrecorded, the first 100 are found by their slugs: existing, not made twice.
    assert (report["created"], report["existing"], report["remaining"]) == (50, 100, 0)
    made = [i for i in list_items(sandbox, posts) if i["fieldData"]["name"].startswith("Kept ")]
    assert len(made) == 150
