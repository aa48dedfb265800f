"""Functional tests of update-items: functions-framework test client against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sandbox
from tests.items_support import (
    RequestCounter,
    cms_locale_ids,
    create_items,
    function_app,
    get_item,
    post_fields,
    publish_items,
)

API_KEY = "update-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
UNKNOWN_ID = "0" * 24
AddPosts = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def app(webflow_env: dict[str, str]) -> FlaskClient:
    """A fresh update-items app pointed at the sandbox."""
    return function_app("update-items", "update_items", UPDATE_ITEMS_API_KEYS=API_KEY)


def _update(app: FlaskClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = app.post("/", json=body, headers=AUTH)
    return response.status_code, response.get_json()


def test_patch_by_id_changes_only_the_given_fields(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    [item] = add_posts(1)
    # Act
    status, body = _update(app, {"items": [{"id": item["id"], "fieldData": {"rating": "4.5"}}]})
    # Assert
    assert status == 200
    assert body["results"] == [
        {"index": 0, "status": "updated", "id": item["id"], "slug": "post-0"}
    ]
    with sandbox.api() as api:
        stored = get_item(api, posts, item["id"])["fieldData"]
    assert stored == {**item["fieldData"], "rating": 4.5}


def test_patch_by_slug_updates_the_given_locale_variant(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: two items in three locales
    locales = cms_locale_ids(sandbox)
    _, french, german = locales
    items = add_posts(2, cms_locale_ids=locales)
    # Act
    status, body = _update(
        app,
        {
            "items": [
                {"slug": "post-0", "cmsLocaleId": french, "fieldData": {"summary": "résumé"}},
                {
                    "slug": "post-1",
                    "cmsLocaleId": german,
                    "fieldData": {"summary": "Zusammenfassung"},
                },
            ]
        },
    )
    # Assert: only the addressed variants changed
    assert status == 200
    assert [result["id"] for result in body["results"]] == [item["id"] for item in items]
    with sandbox.api() as api:
        summaries = [
            [
                get_item(api, posts, item["id"], cms_locale_id=locale)["fieldData"]["summary"]
                for locale in locales
            ]
            for item in items
        ]
    assert summaries == [
        ["summary 0", "résumé", "summary 0"],
        ["summary 1", "summary 1", "Zusammenfassung"],
    ]


def test_each_slug_is_looked_up_once_per_call(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange
    add_posts(2)
    counter = RequestCounter(sandbox)
    # Act
    status, _ = _update(
        app,
        {
            "items": [
                {"slug": "post-0", "fieldData": {"summary": "one"}},
                {"slug": "post-1", "fieldData": {"summary": "two"}},
                {"slug": "post-0", "fieldData": {"rating": 3}},
            ]
        },
    )
    # Assert: two distinct slugs cost at most two lookups; one PATCH
    assert status == 200
    assert counter.routes("GET", "/items") <= 2
    assert counter.routes("PATCH", "/items") == 1


def test_many_slugs_are_resolved_by_listing_the_collection(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange
    add_posts(250)
    counter = RequestCounter(sandbox)
    # Act
    items = [{"slug": f"post-{n}", "fieldData": {"rating": 5}} for n in range(250)]
    status, body = _update(app, {"items": items})
    # Assert: three pages instead of 250 lookups
    assert status == 200
    assert {result["status"] for result in body["results"]} == {"updated"}
    assert counter.routes("GET", "/items") == 3


def test_unknown_ids_and_slugs_are_not_found_while_others_apply(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(3)
    # Act
    status, body = _update(
        app,
        {
            "items": [
                {"id": items[0]["id"], "fieldData": {"summary": "changed 0"}},
                {"id": UNKNOWN_ID, "fieldData": {"summary": "nobody"}},
                {"slug": "no-such-post", "fieldData": {"summary": "nobody"}},
                {"slug": "post-2", "fieldData": {"summary": "changed 2"}},
            ]
        },
    )
    # Assert
    assert status == 207
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "updated"),
        (1, "not_found"),
        (2, "not_found"),
        (3, "updated"),
    ]
    assert body["results"][2]["error"]["code"] == "not_found"
    with sandbox.api() as api:
        summaries = [get_item(api, posts, item["id"])["fieldData"]["summary"] for item in items]
    assert summaries == ["changed 0", "summary 1", "changed 2"]


def test_new_slug_held_by_another_item_fails_that_item_only(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(3)
    # Act
    status, body = _update(
        app,
        {
            "items": [
                {"id": items[0]["id"], "fieldData": {"slug": "post-1"}},
                {"id": items[2]["id"], "fieldData": {"slug": "renamed"}},
            ]
        },
    )
    # Assert
    assert status == 207
    assert [r["status"] for r in body["results"]] == ["failed", "updated"]
    assert body["results"][0]["error"]["code"] == "duplicate_slug"
    with sandbox.api() as api:
        assert get_item(api, posts, items[0]["id"])["fieldData"]["slug"] == "post-0"
        assert get_item(api, posts, items[2]["id"])["fieldData"]["slug"] == "renamed"


def test_live_update_of_a_published_item_changes_the_live_site(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange
    with sandbox.api() as api:
        [item] = create_items(api, posts, post_fields("post", 1))
        publish_items(api, posts, [item["id"]])
    counter = RequestCounter(sandbox)
    # Act
    status, body = _update(
        app, {"live": True, "items": [{"id": item["id"], "fieldData": {"summary": "live now"}}]}
    )
    # Assert
    assert status == 200
    assert body["results"][0]["live"] is True
    with sandbox.api() as api:
        assert get_item(api, posts, item["id"], live=True)["fieldData"]["summary"] == "live now"
    assert counter.routes("PATCH", "/items/live") == 1


def test_live_update_of_never_published_items_falls_back_to_staged_patch_and_publish(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: one published item and two that were never published
    with sandbox.api() as api:
        items = create_items(api, posts, post_fields("post", 3))
        publish_items(api, posts, [items[0]["id"]])
    counter = RequestCounter(sandbox)
    # Act
    status, body = _update(
        app,
        {
            "live": True,
            "items": [
                {"id": item["id"], "fieldData": {"summary": f"new {n}"}}
                for n, item in enumerate(items)
            ],
        },
    )
    # Assert: every item is updated and live
    assert status == 200
    assert [(r["status"], r["live"]) for r in body["results"]] == [("updated", True)] * 3
    with sandbox.api() as api:
        live = [
            get_item(api, posts, item["id"], live=True)["fieldData"]["summary"] for item in items
        ]
    assert live == ["new 0", "new 1", "new 2"]
    assert counter.routes("PATCH", "/items") == 1
    assert counter.routes("POST", "/items/publish") == 1


def test_live_update_of_an_unpublished_locale_publishes_only_that_locale(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: an item in three locales, published in the primary one only
    locales = cms_locale_ids(sandbox)
    primary, french, _ = locales
    with sandbox.api() as api:
        [item] = create_items(api, posts, post_fields("post", 1), cms_locale_ids=locales)
        body = {"items": [{"id": item["id"], "cmsLocaleIds": [primary]}]}
        api.post(f"/collections/{posts}/items/publish", json=body).raise_for_status()
    # Act
    patch = {"id": item["id"], "cmsLocaleId": french, "fieldData": {"summary": "en direct"}}
    status, answer = _update(app, {"live": True, "items": [patch]})
    # Assert
    assert (status, answer["results"][0]["live"]) == (200, True)
    with sandbox.api() as api:
        live_french = get_item(api, posts, item["id"], live=True, cms_locale_id=french)
        live_primary = get_item(api, posts, item["id"], live=True, cms_locale_id=primary)
        german = api.get(
            f"/collections/{posts}/items/{item['id']}/live", params={"cmsLocaleId": locales[2]}
        )
    assert live_french["fieldData"]["summary"] == "en direct"
    assert live_primary["fieldData"]["summary"] == "summary 0"
    assert german.status_code == 404


def test_invalid_values_answer_400_with_field_paths_and_write_nothing(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(2)
    counter = RequestCounter(sandbox)
    # Act
    status, body = _update(
        app,
        {
            "items": [
                {"id": items[0]["id"], "fieldData": {"summary": "fine"}},
                {"id": items[1]["id"], "fieldData": {"rating": "lots", "colour": "red"}},
            ]
        },
    )
    # Assert
    assert status == 400
    fields = {detail["field"] for detail in body["details"]}
    assert fields == {"items[1].fieldData.rating", "items[1].fieldData.colour"}
    assert counter.writes() == 0


def test_partial_update_can_clear_an_optional_field(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    [item] = add_posts(1)
    # Act
    status, _ = _update(app, {"items": [{"id": item["id"], "fieldData": {"summary": ""}}]})
    # Assert
    assert status == 200
    with sandbox.api() as api:
        assert not get_item(api, posts, item["id"])["fieldData"].get("summary")


def test_250_items_go_out_in_3_patch_requests(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(250)
    counter = RequestCounter(sandbox)
    # Act
    status, body = _update(
        app, {"items": [{"id": item["id"], "isArchived": True} for item in items]}
    )
    # Assert
    assert status == 200
    assert len(body["results"]) == 250
    assert counter.routes("PATCH", "/items") == 3


def test_request_without_api_key_is_refused(app: FlaskClient) -> None:
    response = app.post("/", json={"items": [{"id": UNKNOWN_ID, "isDraft": True}]})
    assert response.status_code == 401


def test_create_items_keys_are_accepted_when_update_keys_are_unset(
    webflow_env: dict[str, str],
) -> None:
    # Arrange
    app = function_app(
        "update-items", "update_items", CREATE_ITEMS_API_KEYS="create-key-0123456789"
    )
    # Act
    response = app.post(
        "/",
        json={"items": [{"slug": "no-such-post", "isDraft": True}]},
        headers={"Authorization": "Bearer create-key-0123456789"},
    )
    # Assert
    assert response.status_code == 404
    assert response.get_json()["results"][0]["status"] == "not_found"


def test_malformed_body_is_400(app: FlaskClient) -> None:
    response = app.post(
        "/", json={"items": [{"id": UNKNOWN_ID, "slug": "both", "isDraft": True}]}, headers=AUTH
    )
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"].startswith("items[0]")


def test_field_map_names_are_accepted_and_named_in_errors(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    app = function_app(
        "update-items",
        "update_items",
        UPDATE_ITEMS_API_KEYS=API_KEY,
        FIELD_MAP='{"stars": "rating"}',
    )
    first, second = add_posts(2)
    # Act
    good = _update(app, {"items": [{"id": first["id"], "fieldData": {"stars": 4}}]})
    bad = _update(app, {"items": [{"id": second["id"], "fieldData": {"stars": "many"}}]})
    # Assert
    assert good[0] == 200
    with sandbox.api() as api:
        assert get_item(api, posts, first["id"])["fieldData"]["rating"] == 4
    assert bad[0] == 400
    assert [detail["field"] for detail in bad[1]["details"]] == ["items[0].fieldData.stars"]


def test_a_collection_that_does_not_exist_is_422_naming_collection_id(app: FlaskClient) -> None:
    body = {"collectionId": UNKNOWN_ID, "items": [{"slug": "any", "fieldData": {"name": "x"}}]}
    status, answer = _update(app, body)
    assert status == 422
    assert answer["code"] == "collection_not_found"
    assert [detail["field"] for detail in answer["details"]] == ["collectionId"]
