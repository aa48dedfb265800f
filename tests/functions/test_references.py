"""References by name: create-items, update-items and sync take a Reference or MultiReference as an
item id, a slug, a name or ``{"id"|"slug"|"name": ...}``, resolved against the referenced
collection (read once per call) in the sandbox, whose Posts refer to Authors and Tags."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sandbox
from tests.create_items_support import AUTH, list_items, make_app
from tests.items_support import RequestCounter, function_app


@pytest.fixture
def app(webflow_env: dict[str, str]) -> FlaskClient:
    return make_app()


def seed(sandbox: Sandbox, collection: str, *names: str) -> dict[str, str]:
    """Items named ``names`` in the collection: {name: id} (a name may repeat: the last wins)."""
    ids: dict[str, str] = {}
    with sandbox.api() as api:
        for number, name in enumerate(names):
            slug = name.lower().replace(" ", "-") + (f"-{number}" if names.count(name) > 1 else "")
            item = api.post(
                f"/collections/{sandbox.collections[collection]}/items",
                json={"isDraft": False, "fieldData": {"name": name, "slug": slug}},
            )
            ids[name] = item.raise_for_status().json()["id"]
    return ids


def create(app: FlaskClient, posts: str, field_data: dict[str, Any]) -> tuple[int, Any]:
    response = app.post(
        "/", json={"collectionId": posts, "items": [{"fieldData": field_data}]}, headers=AUTH
    )
    return response.status_code, response.get_json()


def test_a_reference_by_name_slug_id_or_object_is_resolved(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    authors = seed(sandbox, "authors", "Ada Lovelace", "Grace Hopper")
    tags = seed(sandbox, "tags", "News", "Guides", "Releases")
    counter = RequestCounter(sandbox)
    status, body = create(
        app,
        posts,
        {
            "name": "Engines",
            "author": "ada lovelace",  # a name, any case
            "tags": ["news", {"name": "Guides"}, tags["Releases"]],  # slug, name, id
        },
    )
    assert status == 201, body
    # Each referenced collection read once (one page each), whatever the number of references.
    assert counter.routes("GET", "/items") == 2
    [item] = [i for i in list_items(sandbox, posts) if i["fieldData"]["name"] == "Engines"]
    assert item["fieldData"]["author"] == authors["Ada Lovelace"]
    assert item["fieldData"]["tags"] == [tags["News"], tags["Guides"], tags["Releases"]]


def test_an_unknown_or_ambiguous_name_is_a_field_error_naming_it(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    seed(sandbox, "authors", "Sam Smith", "Sam Smith", "Ada Lovelace")
    status, body = create(app, posts, {"name": "A", "author": "Nobody Here"})
    assert status == 400
    assert body["details"] == [
        {"field": "author", "message": "no item with slug or name 'Nobody Here'"}
    ]
    status, body = create(app, posts, {"name": "B", "author": "Sam Smith"})
    assert status == 400
    message = body["details"][0]["message"]
    assert "'Sam Smith' names 2 items" in message
    assert "sam-smith-0" in message
    status, body = create(app, posts, {"name": "C", "author": {"id": "x", "name": "y"}})
    assert status == 400
    assert "one of" in body["details"][0]["message"]


def test_sync_and_update_take_references_by_name(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    authors = seed(sandbox, "authors", "Ada Lovelace", "Grace Hopper")
    app = make_app()
    rows = [
        {"fieldData": {"name": "Notes", "summary": "S-1", "author": "Ada Lovelace"}},
        {"fieldData": {"name": "Compilers", "summary": "S-2", "author": "grace-hopper"}},
    ]
    body = {"collectionId": posts, "items": rows, "sync": {"key": "summary"}}
    first = app.post("/", json=body, headers=AUTH).get_json()
    assert first["created"] == 2, first
    again = app.post("/", json=body, headers=AUTH).get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)

    update = function_app(
        "update-items", "update_items", UPDATE_ITEMS_API_KEYS="update-key-0123456789"
    )
    patched = update.post(
        "/",
        json={
            "collectionId": posts,
            "items": [{"slug": "compilers", "fieldData": {"author": {"name": "Ada Lovelace"}}}],
        },
        headers={"Authorization": "Bearer update-key-0123456789"},
    )
    assert patched.status_code == 200, patched.get_json()
    [item] = [i for i in list_items(sandbox, posts) if i["fieldData"]["name"] == "Compilers"]
    assert item["fieldData"]["author"] == authors["Ada Lovelace"]


def test_the_sandbox_refuses_an_id_of_another_collection(sandbox: Sandbox, posts: str) -> None:
    tag = seed(sandbox, "tags", "News")["News"]
    with sandbox.api() as api:
        response = api.post(
            f"/collections/{posts}/items",
            json={"isDraft": False, "fieldData": {"name": "X", "slug": "x", "author": tag}},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "Referenced item not found" in str(response.json()["details"])


def test_the_sandbox_inserts_items_each_in_its_own_locales(sandbox: Sandbox, posts: str) -> None:
    primary = sandbox.locales["primary"]["cmsLocaleId"]
    secondary = [locale["cmsLocaleId"] for locale in sandbox.locales["secondary"]]
    with sandbox.api() as api:
        response = api.post(
            f"/collections/{posts}/items/insert",
            json={
                "items": [
                    {"fieldData": {"name": "One", "slug": "one"}, "isDraft": False},
                    {
                        "fieldData": {"name": "Two", "slug": "two"},
                        "cmsLocaleIds": [primary, *secondary],
                    },
                ]
            },
        )
        assert response.status_code == 202, response.text
        created = response.json()["items"]
        assert [i["fieldData"]["slug"] for i in created].count("two") == 1 + len(secondary)
        too_many = api.post(
            f"/collections/{posts}/items/insert",
            json={
                "items": [
                    {
                        "fieldData": {"name": f"N{n}", "slug": f"n{n}"},
                        "cmsLocaleIds": [primary, *secondary],
                    }
                    for n in range(40)
                ]
            },
        )
    assert too_many.status_code == 400
    assert "locale variant" in str(too_many.json()["details"])
