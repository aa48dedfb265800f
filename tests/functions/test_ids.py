"""Ids in request bodies are Webflow object ids: anything else is a 400 naming the field, and
nothing reaches Webflow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Sandbox
from tests.items_support import function_app

KEY = "ids-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


CASES: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "create-items",
        "create_items",
        {"collectionId": "\u001f", "items": [{"fieldData": {"name": "A"}}]},
        "collectionId",
    ),
    (
        "create-items",
        "create_items",
        {"collectionId": "../../sites", "items": [{"fieldData": {"name": "A"}}]},
        "collectionId",
    ),
    (
        "create-items",
        "create_items",
        {"items": [{"fieldData": {"name": "A"}, "cmsLocaleIds": ["fr"]}]},
        "items[0].cmsLocaleIds[0]",
    ),
    (
        "update-items",
        "update_items",
        {"collectionId": "x y", "items": [{"id": "6b033adcd45e982e82610ff9", "isDraft": False}]},
        "collectionId",
    ),
    (
        "update-items",
        "update_items",
        {"items": [{"id": "not-an-id", "fieldData": {"name": "B"}}]},
        "items[0].id",
    ),
    (
        "publish-live",
        "publish_live",
        {"itemIds": ["6b033adcd45e982e82610ffb"], "collectionId": "\u0000"},
        "collectionId",
    ),
    ("publish-live", "publish_live", {"itemIds": ["?#"]}, "itemIds[0]"),
]


@pytest.mark.parametrize(("folder", "target", "body", "field"), CASES)
def test_a_malformed_id_is_a_400_naming_the_field(
    webflow_env: dict[str, str],
    sandbox: Sandbox,
    folder: str,
    target: str,
    body: dict[str, Any],
    field: str,
) -> None:
    # GIVEN a function wired to the sandbox (update-items and publish-live take create-items' keys)
    app = function_app(folder, target, CREATE_ITEMS_API_KEYS=KEY)
    before = sandbox.stats()["total"]

    # WHEN a body carries an id that is not 24 hex digits
    response = app.post("/", json=body, headers=AUTH)

    # THEN it is refused before anything is sent, naming the field
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["message"]
    assert field in [detail["field"] for detail in answer["details"]]
    assert sandbox.stats()["total"] == before
