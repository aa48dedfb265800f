"""docs/openapi.yml describes what update-items and publish-live really take and answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient

from tests.items_support import function_app
from tests.openapi_support import assert_matches, operation

API_KEY = "doc-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
UNKNOWN_ID = "0" * 24


@pytest.fixture
def update_app(webflow_env: dict[str, str]) -> FlaskClient:
    return function_app("update-items", "update_items", UPDATE_ITEMS_API_KEYS=API_KEY)


@pytest.fixture
def publish_app(webflow_env: dict[str, str]) -> FlaskClient:
    return function_app("publish-live", "publish_live", PUBLISH_API_KEYS=API_KEY)


@pytest.mark.parametrize("path", ["/update-items", "/publish-live"])
def test_every_documented_status_is_in_the_status_table(path: str) -> None:
    description = operation(path)["description"]
    for status in operation(path)["responses"]:
        assert f"| {status} |" in description


def _update_bodies(items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Bodies for every update answer kind, with the schema each answer should match."""
    first, second = items
    return [
        ({"items": [{"id": first["id"], "fieldData": {"rating": 3}}]}, "UpdateItemsResponse"),
        (
            {
                "items": [
                    {"id": second["id"], "fieldData": {"slug": "post-0"}},
                    {"slug": "missing", "isDraft": True},
                    {"id": first["id"], "isArchived": True},
                ]
            },
            "UpdateItemsResponse",
        ),
        ({"items": [{"id": UNKNOWN_ID, "isDraft": True}]}, "UpdateItemsResponse"),
        ({"items": [{"id": first["id"], "fieldData": {"rating": "x"}}]}, "Error"),
        ({"items": "wrong"}, "Error"),
        ({"collectionId": UNKNOWN_ID, "items": [{"id": first["id"], "isDraft": True}]}, "Error"),
    ]


def test_update_answers_match_the_document(
    update_app: FlaskClient, add_posts: Callable[..., list[dict[str, Any]]]
) -> None:
    for body, schema in _update_bodies(add_posts(2)):
        response = update_app.post("/", json=body, headers=AUTH)
        assert str(response.status_code) in operation("/update-items")["responses"]
        assert_matches(response.get_json(), schema)


def test_the_request_schema_takes_what_the_function_takes() -> None:
    assert_matches(
        {"live": True, "items": [{"slug": "a", "cmsLocaleId": "l", "isDraft": False}]},
        "UpdateItemsRequest",
    )
    with pytest.raises(jsonschema.ValidationError):
        assert_matches({"items": "wrong"}, "UpdateItemsRequest")


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"pending": True, "dryRun": True},
        {"itemIds": [UNKNOWN_ID]},
        {"site": True},
        {"site": True, "dryRun": True},
    ],
)
def test_publish_answers_match_the_document(
    publish_app: FlaskClient,
    add_posts: Callable[..., list[dict[str, Any]]],
    body: dict[str, Any] | None,
) -> None:
    add_posts(3)
    response = publish_app.post("/", json=body, headers=AUTH)  # no body at all when body is None
    assert response.status_code == 200
    assert_matches(body or {}, "PublishRequest")
    assert_matches(response.get_json(), "PublishReport")


def test_publish_error_answer_matches_the_document(publish_app: FlaskClient) -> None:
    response = publish_app.post("/", json={"pending": True, "site": True}, headers=AUTH)
    assert str(response.status_code) in operation("/publish-live")["responses"]
    assert_matches(response.get_json(), "Error")
