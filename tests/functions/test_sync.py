"""Sync through create-items' JSON API against the sandbox: create what is new, patch only what
changed, leave the rest, and (for a complete set) archive or delete what disappeared."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sandbox
from tests.create_items_support import AUTH, list_items, make_app
from tests.items_support import RequestCounter
from tests.openapi_support import assert_matches


@pytest.fixture
def app(webflow_env: dict[str, str]) -> FlaskClient:
    return make_app()


def sync(
    app: FlaskClient, collection: str, items: list[dict[str, Any]], **options: Any
) -> tuple[int, dict[str, Any]]:
    body = {"collectionId": collection, "items": items, "sync": options}
    response = app.post("/", json=body, headers=AUTH)
    return response.status_code, response.get_json()


def rows(*specs: tuple[str, str, Any]) -> list[dict[str, Any]]:
    """Items with a name, an external id in summary, and a rating."""
    return [
        {"fieldData": {"name": name, "summary": sku, "rating": rating}}
        for name, sku, rating in specs
    ]


CATALOGUE = rows(("Teapot", "SKU-1", 4.5), ("Kettle", "SKU-2", 3), ("Mug", "SKU-3", 5))


def by_summary(sandbox: Sandbox, collection: str) -> dict[str, dict[str, Any]]:
    return {
        item["fieldData"].get("summary"): item
        for item in list_items(sandbox, collection)
        if item["fieldData"].get("summary")
    }


def test_a_first_sync_creates_and_a_second_writes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    status, body = sync(app, posts, CATALOGUE, key="summary")
    assert status == 200, body
    assert_matches(body, "SyncResponse")
    assert (body["created"], body["updated"], body["unchanged"]) == (3, 0, 0)
    assert {r["key"] for r in body["results"]} == {"SKU-1", "SKU-2", "SKU-3"}

    counter = RequestCounter(sandbox)
    status, body = sync(app, posts, CATALOGUE, key="summary")
    assert status == 200
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, 3)
    assert counter.writes() == 0


def test_only_the_changed_fields_are_patched_and_new_rows_created(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    before = by_summary(sandbox, posts)
    changed = rows(("Teapot", "SKU-1", 4.5), ("Kettle", "SKU-2", 4), ("Mug", "SKU-3", 5))
    changed.append({"fieldData": {"name": "Spoon", "summary": "SKU-4", "rating": 1}})

    status, body = sync(app, posts, changed, key="summary")

    assert status == 200
    statuses = {r["key"]: r["status"] for r in body["results"]}
    assert statuses == {
        "SKU-1": "unchanged",
        "SKU-2": "updated",
        "SKU-3": "unchanged",
        "SKU-4": "created",
    }
    assert_matches(body, "SyncResponse")
    [updated] = [r for r in body["results"] if r["status"] == "updated"]
    assert updated["changed"] == ["rating"]
    assert updated["id"] == before["SKU-2"]["id"]
    after = by_summary(sandbox, posts)
    assert after["SKU-2"]["fieldData"]["rating"] == 4
    assert after["SKU-1"]["lastUpdated"] == before["SKU-1"]["lastUpdated"]  # not rewritten


def test_values_are_compared_after_the_coercion_writes_use(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    first = [{"fieldData": {"name": "Dated", "summary": "D-1", "published-on": "2024-01-01"}}]
    sync(app, posts, first, key="summary")
    again = [
        {
            "fieldData": {
                "name": "Dated",
                "summary": " D-1 ",
                "published-on": "2024-01-01T00:00:00Z",
            }
        }
    ]
    status, body = sync(app, posts, again, key="summary")
    assert (status, body["unchanged"]) == (200, 1), body


def test_sync_by_slug_the_default(app: FlaskClient, add_posts: Any, posts: str) -> None:
    [existing] = add_posts(1)  # post-0
    items = [{"fieldData": {"name": "post 0", "slug": "post-0", "summary": "now with one"}}]
    status, body = sync(app, posts, items)
    assert status == 200
    [result] = body["results"]
    assert (result["status"], result["id"], result["changed"]) == (
        "updated",
        existing["id"],
        ["summary"],
    )


def test_a_repeated_key_fails_those_rows_and_applies_the_others(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    items = rows(("A", "SKU-9", 1), ("B", "SKU-9", 2), ("C", "SKU-8", 3))
    status, body = sync(app, posts, items, key="summary")
    assert status == 207
    failed = [r for r in body["results"] if r["status"] == "failed"]
    assert [r["index"] for r in failed] == [0, 1]
    assert failed[0]["error"]["code"] == "duplicate_key"
    assert set(by_summary(sandbox, posts)) == {"SKU-8"}


def test_a_key_held_by_two_items_of_the_collection_is_not_guessed(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, rows(("One", "DUP", 1)), key="summary")
    with sandbox.api() as api:
        api.post(
            f"/collections/{posts}/items",
            json={"fieldData": {"name": "Two", "slug": "two", "summary": "DUP"}},
        ).raise_for_status()
    status, body = sync(app, posts, rows(("One", "DUP", 2)), key="summary")
    assert status == 422
    assert body["results"][0]["error"]["code"] == "key_not_unique"


def test_an_invalid_row_is_reported_and_the_others_applied(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    items = [
        *rows(("Good", "G-1", 1)),
        {"fieldData": {"name": "Bad", "summary": "B-1", "rating": "many"}},
    ]
    status, body = sync(app, posts, items, key="summary")
    assert status == 207
    bad = body["results"][1]
    assert bad["status"] == "failed"
    assert bad["error"]["details"][0]["field"] == "rating"
    assert set(by_summary(sandbox, posts)) == {"G-1"}


def test_a_dry_run_answers_the_plan_and_writes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    counter = RequestCounter(sandbox)
    changed = rows(("Teapot", "SKU-1", 1), ("New", "SKU-7", 2))
    status, body = sync(
        app, posts, changed, key="summary", dryRun=True, complete=True, missing="delete"
    )
    assert status == 200
    assert body["dryRun"] is True
    assert [r["status"] for r in body["results"]] == ["updated", "created"]
    assert {m["key"] for m in body["missing"]["items"]} == {"SKU-2", "SKU-3"}
    assert counter.writes() == 0


def test_a_complete_set_archives_what_disappeared(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    status, body = sync(app, posts, CATALOGUE[:1], key="summary", complete=True, missing="archive")
    assert status == 200
    assert {(m["key"], m["status"]) for m in body["missing"]["items"]} == {
        ("SKU-2", "archived"),
        ("SKU-3", "archived"),
    }
    stored = by_summary(sandbox, posts)
    assert stored["SKU-2"]["isArchived"]
    assert not stored["SKU-1"]["isArchived"]
    # Archived already: a second complete sync has nothing more to archive.
    status, body = sync(app, posts, CATALOGUE[:1], key="summary", complete=True, missing="archive")
    assert body["missing"]["count"] == 0


def test_a_complete_set_may_delete_what_disappeared(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    status, body = sync(app, posts, CATALOGUE[1:], key="summary", complete=True, missing="delete")
    assert status == 200
    assert [m["status"] for m in body["missing"]["items"]] == ["deleted"]
    assert set(by_summary(sandbox, posts)) == {"SKU-2", "SKU-3"}


def test_without_the_complete_flag_nothing_is_archived_or_deleted(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    status, body = sync(app, posts, CATALOGUE, key="summary", missing="delete")
    assert status == 400
    assert body["details"][0]["field"] == "sync"
    assert "complete" in body["details"][0]["message"]
    assert by_summary(sandbox, posts) == {}


def test_publish_publishes_what_was_written(app: FlaskClient, sandbox: Sandbox, posts: str) -> None:
    status, body = sync(app, posts, CATALOGUE, key="summary", publish=True)
    assert status == 200
    assert len(body["published"]) == 3
    assert all(item["lastPublished"] for item in by_summary(sandbox, posts).values())


def test_a_key_that_cannot_hold_an_id_is_400_naming_it(app: FlaskClient, posts: str) -> None:
    status, body = sync(app, posts, CATALOGUE, key="featured")
    assert status == 400
    assert body["details"][0]["field"] == "sync.key"
    assert "summary" in body["details"][0]["message"]


def test_a_sync_needs_the_api_key(app: FlaskClient, posts: str) -> None:
    response = app.post("/", json={"collectionId": posts, "items": CATALOGUE, "sync": {}})
    assert response.status_code == 401


def test_a_null_or_empty_value_clears_the_field_and_clearing_twice_writes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    cleared: list[dict[str, Any]] = [
        {"fieldData": {"name": "Teapot", "summary": "SKU-1", "rating": None}},
        {"fieldData": {"name": "Kettle", "summary": "SKU-2", "rating": ""}},
        {"fieldData": {"name": "Mug", "summary": "SKU-3"}},  # not given: left as it is
    ]

    status, body = sync(app, posts, cleared, key="summary")

    assert status == 200, body
    assert [(r["status"], r.get("changed")) for r in body["results"]] == [
        ("updated", ["rating"]),
        ("updated", ["rating"]),
        ("unchanged", None),
    ]
    stored = by_summary(sandbox, posts)
    assert stored["SKU-1"]["fieldData"].get("rating") is None
    assert stored["SKU-2"]["fieldData"].get("rating") is None
    assert stored["SKU-3"]["fieldData"]["rating"] == 5
    counter = RequestCounter(sandbox)
    status, body = sync(app, posts, cleared, key="summary")
    assert (body["updated"], body["unchanged"]) == (0, 3)
    assert counter.writes() == 0


def test_a_required_field_given_empty_fails_its_item_and_writes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    counter = RequestCounter(sandbox)

    status, body = sync(
        app, posts, [{"fieldData": {"name": "", "summary": "SKU-1"}}], key="summary"
    )

    assert status == 422
    [result] = body["results"]
    assert result["status"] == "failed"
    assert counter.writes() == 0
    assert by_summary(sandbox, posts)["SKU-1"]["fieldData"]["name"] == "Teapot"


# --- nothing deleted by mistake, nothing written without the right key -------------------------


def test_a_row_that_failed_keeps_its_item_in_a_complete_set(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    typo = rows(("Teapot", "SKU-1", 4.5), ("Kettle", "SKU-2", "three"))
    status, body = sync(app, posts, typo, key="summary", complete=True, missing="delete")
    assert status == 207
    assert [r["status"] for r in body["results"]] == ["unchanged", "failed"]
    # SKU-2's row failed: its item is not missing, only not updated. SKU-3 is gone from the set.
    assert [(m["key"], m["status"]) for m in body["missing"]["items"]] == [("SKU-3", "deleted")]
    assert set(by_summary(sandbox, posts)) == {"SKU-1", "SKU-2"}


def test_a_failed_row_without_a_readable_key_deletes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    sync(app, posts, CATALOGUE, key="summary")
    keyless = [*CATALOGUE[:1], {"fieldData": {"name": "Kettle", "rating": 3}}]
    status, body = sync(app, posts, keyless, key="summary", complete=True, missing="delete")
    assert status == 207
    assert body["missing"]["count"] == 0
    assert "nothing is archived or deleted" in body["missing"]["skipped"]
    assert set(by_summary(sandbox, posts)) == {"SKU-1", "SKU-2", "SKU-3"}


def test_deployed_a_create_key_cannot_sync_and_a_sync_key_cannot_create(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    sync_key = "sync-key-0123456789abcdef"
    app = make_app(K_SERVICE="create-items", SYNC_API_KEYS=sync_key, **_create_keys())
    body = {"collectionId": posts, "items": CATALOGUE, "sync": {"key": "summary"}}
    refused = app.post("/", json=body, headers=AUTH)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "sync_not_allowed"
    assert by_summary(sandbox, posts) == {}

    allowed = app.post("/", json=body, headers={"Authorization": f"Bearer {sync_key}"})
    assert allowed.status_code == 200
    create = {"collectionId": posts, "items": [{"fieldData": {"name": "New"}}]}
    not_a_create_key = app.post("/", json=create, headers={"Authorization": f"Bearer {sync_key}"})
    assert not_a_create_key.status_code == 403
    assert not_a_create_key.get_json()["code"] == "create_not_allowed"


def _create_keys() -> dict[str, str]:
    return {"CREATE_ITEMS_API_KEYS": AUTH["Authorization"].split()[1]}


def test_a_failed_publish_keeps_the_results_and_a_rerun_publishes(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    import os

    from shared.webflow import get_client
    from shared.webflow.pacing import reset_limiters

    os.environ["WEBFLOW_MAX_RETRY_SECONDS"] = "1"
    app = make_app()
    # The schema, the collection's one page and the create: the publish is the fourth call.
    sandbox.configure(rateLimitPerMinute=3)
    status, body = sync(app, posts, CATALOGUE, key="summary", publish=True)
    sandbox.configure(rateLimitPerMinute=0)
    assert status == 207, body
    assert body["created"] == 3
    assert body["published"] == []
    assert body["publishError"]["code"] == "upstream_unavailable"
    assert not any(item.get("lastPublished") for item in by_summary(sandbox, posts).values())

    reset_limiters()
    get_client.cache_clear()
    status, body = sync(make_app(), posts, CATALOGUE, key="summary", publish=True)
    assert status == 200, body
    assert (body["unchanged"], len(body["published"])) == (3, 3)
    assert all(item["lastPublished"] for item in by_summary(sandbox, posts).values())
