"""Every writer under every failure Webflow can produce: the end state, asserted.

For each failure class (a 500, a gateway's 502, a 503, a 429 with Retry-After, a timeout, a
connection dropped before or after the write, a 400 naming a field, a collection that does not
exist) and each writer (drain-intake, sync, upload-asset, publish-live): the failure starts before
the run and lasts through its retries; the transient ones leave nothing lost and nothing failed
for good, and once Webflow recovers the same work finishes with nothing duplicated; the refusals
end as failures that name their cause.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.webflow import get_client
from shared.webflow.pacing import reset_limiters
from tests.conftest import FakeGCS, Sandbox
from tests.create_items_support import AUTH, list_items, make_app
from tests.functions import test_intake as intake
from tests.functions.test_intake import FORM, JSON_ACCEPT, names, run_drain
from tests.functions.test_upload_asset import PNG, assets, deliver, finalized_event, ledger
from tests.items_support import function_app, load_function

UNKNOWN_COLLECTION = "0" * 23 + "1"

# Failure class -> the sandbox's faults. Transient ones hit every call (the reads before a write
# too); the refusal hits writes, as Webflow refuses a write's content.
TRANSIENT = {
    "500": {"errorRate": 1.0},
    "502": {"errorRate": 1.0, "errorStatus": 502},
    "503": {"errorRate": 1.0, "errorStatus": 503},
    "429": {"rateLimitRate": 1.0},
    "timeout": {"latencyMs": 1500},
    "dropped": {"dropRate": 1.0},
    "dropped after the write": {"dropAfterWriteRate": 1.0},
}
# Answers lost after Webflow applied the write, while reads work: the writer finds what it made
# by slug during the failure itself.
SETTLED_BY_SLUG = {"dropped after the write"}
REFUSED = {"errorRate": 1.0, "errorStatus": 400, "faultsOn": "writes"}
# Short budgets: the failure outlasts every retry of the run.
SHORT = {"WEBFLOW_MAX_RETRY_SECONDS": "1", "WEBFLOW_TIMEOUT_SECONDS": "0.5"}

env = intake.env
app = intake.app


@pytest.fixture
def short_budget() -> Iterator[None]:
    os.environ.update(SHORT)
    yield
    for name in SHORT:
        os.environ.pop(name, None)


def recovered(sandbox: Sandbox) -> None:
    """Webflow works again; a new instance's clients (pacing forgets the failed window)."""
    sandbox.configure(faults={}, rateLimitPerMinute=0)
    for name in SHORT:
        os.environ.pop(name, None)
    reset_limiters()
    get_client.cache_clear()


# --- drain-intake --------------------------------------------------------------------------


@pytest.mark.parametrize("failure", sorted(TRANSIENT))
def test_drain_keeps_the_submission_through_a_transient_failure(
    failure: str, app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    assert app.post("/", data=FORM, headers=JSON_ACCEPT).status_code == 202
    sandbox.configure(faults=TRANSIENT[failure])
    report = run_drain(**SHORT)
    settled = failure in SETTLED_BY_SLUG
    assert (report["failed"], report["remaining"]) == (0, 0 if settled else 1)
    assert names(gcs, "intake/failed/") == []

    recovered(sandbox)
    again = run_drain()
    assert (again["failed"], again["remaining"]) == (0, 0)
    assert report["created"] + again["created"] + again["existing"] == 1
    made = [i for i in list_items(sandbox, submissions) if i["fieldData"]["name"] == FORM["Name"]]
    assert len(made) == 1


def test_drain_fails_a_submission_webflow_refuses_naming_the_field(
    app: FlaskClient, gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    queued = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()["id"]
    sandbox.configure(faults=REFUSED)
    report = run_drain(**SHORT)
    assert (report["failed"], report["remaining"]) == (1, 0)
    failed = gcs.bucket.get_blob(f"intake/failed/{queued}.json")
    assert "validation_error" in failed.metadata["intake-error"]
    assert "Name" in failed.metadata["intake-error"]  # the field, in the form's own words
    recovered(sandbox)
    assert run_drain()["replayed"] == 0  # a refusal is not replayed by itself
    assert list_items(sandbox, submissions) == []


def test_drain_fails_a_submission_for_a_collection_that_does_not_exist(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    app = make_app(**{**env, "WEBFLOW_COLLECTION_ID": UNKNOWN_COLLECTION})
    queued = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()["id"]
    report = run_drain(WEBFLOW_COLLECTION_ID=UNKNOWN_COLLECTION)
    assert report["failed"] == 1
    failed = gcs.bucket.get_blob(f"intake/failed/{queued}.json")
    assert "does not exist" in failed.metadata["intake-error"]


# --- sync ----------------------------------------------------------------------------------


CATALOGUE = [
    {"fieldData": {"name": name, "summary": sku}}
    for name, sku in (("Teapot", "SKU-0"), ("Kettle", "SKU-1"), ("Mug", "SKU-2"))
]


def _sync(posts: str, items: list[dict[str, Any]], collection: str | None = None) -> Any:
    body = {
        "collectionId": collection or posts,
        "items": items,
        "sync": {"key": "summary", "complete": True, "missing": "delete"},
    }
    return make_app().post("/", json=body, headers=AUTH)


def _by_summary(sandbox: Sandbox, posts: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in list_items(sandbox, posts):
        found.setdefault(item["fieldData"].get("summary"), []).append(item["id"])
    return found


@pytest.mark.parametrize("failure", sorted(TRANSIENT))
def test_sync_reports_a_transient_failure_deletes_nothing_and_a_rerun_finishes(
    failure: str, webflow_env: dict[str, str], sandbox: Sandbox, posts: str, short_budget: None
) -> None:
    assert _sync(posts, CATALOGUE[:1]).status_code == 200
    sandbox.configure(faults=TRANSIENT[failure])
    # SKU-0 is in the set; SKU-1 and SKU-2 are new: nothing may be deleted, nothing doubled.
    response = _sync(posts, CATALOGUE)
    body = response.get_json()
    if response.status_code == 503:
        assert response.headers["Retry-After"]
    else:
        failed = [r for r in body["results"] if r["status"] == "failed"]
        assert all(
            r["error"]["code"] in ("upstream_unavailable", "outcome_unknown") for r in failed
        )
        assert body["missing"]["count"] == 0

    recovered(sandbox)
    assert _sync(posts, CATALOGUE).status_code == 200
    stored = _by_summary(sandbox, posts)
    assert {sku: len(ids) for sku, ids in stored.items()} == {"SKU-0": 1, "SKU-1": 1, "SKU-2": 1}


def test_sync_reports_a_refused_row_and_deletes_nothing(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str, short_budget: None
) -> None:
    assert _sync(posts, CATALOGUE[:1]).status_code == 200
    sandbox.configure(faults=REFUSED)
    response = _sync(posts, CATALOGUE[1:])
    body = response.get_json()
    assert response.status_code == 207
    assert {r["status"] for r in body["results"]} == {"failed"}
    assert all(r["error"]["code"] == "validation_error" for r in body["results"])
    # SKU-0 is missing from the set, and its delete was refused like every write.
    assert [m["status"] for m in body["missing"]["items"]] in (["kept"], ["failed"])
    recovered(sandbox)
    assert set(_by_summary(sandbox, posts)) == {"SKU-0"}


def test_sync_of_a_collection_that_does_not_exist_is_422(
    webflow_env: dict[str, str], posts: str
) -> None:
    response = _sync(posts, CATALOGUE, collection=UNKNOWN_COLLECTION)
    assert response.status_code == 422
    assert response.get_json()["code"] == "collection_not_found"


# --- upload-asset --------------------------------------------------------------------------


@pytest.fixture
def events(webflow_env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox) -> Iterator[Any]:
    """upload-asset's CloudEvent entry point."""
    os.environ.update({"UPLOAD_PREFIX": "uploads/", "STORAGE_RETRY_SECONDS": "2", **SHORT})
    app = load_function("upload-asset", "upload_asset", "cloudevent")
    yield app.test_client()
    sys.modules["main"].reset_state()


@pytest.mark.parametrize("failure", sorted(TRANSIENT))
def test_upload_asset_asks_for_redelivery_through_a_transient_failure(
    failure: str, events: Any, gcs: FakeGCS, sandbox: Sandbox
) -> None:
    event = finalized_event(gcs.put("uploads/photo.png", PNG))
    sandbox.configure(faults=TRANSIENT[failure])
    assert deliver(events, event).status_code == 500  # Eventarc redelivers
    assert "webflow-error" not in ledger(gcs, "uploads/photo.png")

    recovered(sandbox)
    sys.modules["main"].reset_state()
    assert deliver(events, event).status_code == 200
    assert len(assets(sandbox)) == 1
    assert ledger(gcs, "uploads/photo.png")["webflow-asset-id"] == assets(sandbox)[0]["id"]


def test_upload_asset_acknowledges_a_refused_upload_naming_the_cause(
    events: Any, gcs: FakeGCS, sandbox: Sandbox
) -> None:
    event = finalized_event(gcs.put("uploads/photo.png", PNG))
    sandbox.configure(faults=REFUSED)
    assert deliver(events, event).status_code == 200  # a redelivery cannot change the verdict
    assert "refused" in ledger(gcs, "uploads/photo.png")["webflow-error"]
    recovered(sandbox)
    assert assets(sandbox) == []


def test_upload_asset_acknowledges_a_target_collection_that_does_not_exist(
    events: Any, gcs: FakeGCS, sandbox: Sandbox
) -> None:
    os.environ["UPLOAD_COLLECTION_IDS"] = UNKNOWN_COLLECTION
    sys.modules["main"].reset_state()
    name = f"uploads/{UNKNOWN_COLLECTION}/{'0' * 23}2/image.png"
    assert deliver(events, finalized_event(gcs.put(name, PNG))).status_code == 200
    assert ledger(gcs, name)["webflow-error"]


# --- publish-live --------------------------------------------------------------------------


def _publish_app(**environment: str) -> FlaskClient:
    return function_app("publish-live", "publish_live", PUBLISH_API_KEYS="p" * 20, **environment)


def _publish(body: dict[str, Any] | None = None, **environment: str) -> Any:
    app = _publish_app(**environment)
    return app.post("/", json=body, headers={"Authorization": f"Bearer {'p' * 20}"})


@pytest.mark.parametrize("failure", sorted(TRANSIENT))
def test_publish_live_stops_on_a_transient_failure_and_the_next_run_publishes(
    failure: str,
    webflow_env: dict[str, str],
    sandbox: Sandbox,
    add_posts: Any,
    short_budget: None,
) -> None:
    items = add_posts(3)
    sandbox.configure(faults=TRANSIENT[failure])
    response = _publish()
    body = response.get_json()
    assert response.status_code in (200, 503), body
    if response.status_code == 200:
        assert body["stopped"]["reason"] in ("rate_limited", "upstream_unavailable")
        assert body["failed"] == []

    recovered(sandbox)
    response = _publish()
    assert response.status_code == 200, response.get_json()
    with sandbox.api() as api:
        live = [
            api.get(f"/collections/{sandbox.collections['posts']}/items/{i['id']}/live")
            for i in items
        ]
    assert [r.status_code for r in live] == [200, 200, 200]


def test_publish_live_reports_items_webflow_refuses(
    webflow_env: dict[str, str], sandbox: Sandbox, add_posts: Any, short_budget: None
) -> None:
    items = add_posts(2)
    sandbox.configure(faults=REFUSED)
    response = _publish({"itemIds": [i["id"] for i in items]})
    body = response.get_json()
    assert {entry["id"] for entry in body["failed"]} == {i["id"] for i in items}
    assert body["published"] == []


def test_publish_live_of_a_collection_that_does_not_exist_names_it(
    webflow_env: dict[str, str], sandbox: Sandbox
) -> None:
    response = _publish({"collectionId": UNKNOWN_COLLECTION, "itemIds": ["0" * 23 + "3"]})
    body = response.get_json()
    assert response.status_code == 200, body  # the run ended; its items' outcomes say the rest
    assert body["failed"] == [{"id": "0" * 23 + "3", "error": "Collection not found"}]
    assert (body["published"], body["remaining"]) == ([], 0)
