"""docs/openapi.yml describes what create-items really answers."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sandbox
from tests.create_items_support import AUTH, make_app
from tests.openapi_support import DOC, assert_matches, operation

OPERATION = operation("/create-items")


@pytest.fixture
def app(webflow_env: dict[str, str]) -> FlaskClient:
    return make_app()


def test_the_document_is_openapi_3_1_with_every_function() -> None:
    assert DOC["openapi"].startswith("3.1")
    assert {"/create-items", "/update-items", "/publish-live", "/upload-asset"} <= set(DOC["paths"])


def test_every_documented_status_is_in_the_status_table() -> None:
    table = OPERATION["description"]
    for status in OPERATION["responses"]:
        assert f"| {status} |" in table


def test_a_created_answer_matches_the_schema(app: FlaskClient, sandbox: Sandbox) -> None:
    response = app.post("/", json={"items": [{"fieldData": {"name": "Doc"}}]}, headers=AUTH)
    assert str(response.status_code) in OPERATION["responses"]
    assert_matches(response.get_json(), "CreateItemsResponse")


def test_a_partial_answer_matches_the_schema(app: FlaskClient, sandbox: Sandbox) -> None:
    items = [{"fieldData": {"name": "Ok"}}, {"fieldData": {"name": "Bad", "rating": "x"}}]
    response = app.post("/", json={"items": items}, headers=AUTH)
    assert response.status_code == 207
    assert_matches(response.get_json(), "CreateItemsResponse")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"items": [{"fieldData": {"summary": "no name"}}]}, AUTH),
        ({"items": [{"fieldData": {"name": "x"}}]}, {}),
        ({"items": "wrong"}, AUTH),
        ({"collectionId": "0" * 24, "items": [{"fieldData": {"name": "x"}}]}, AUTH),
    ],
)
def test_error_answers_match_the_schema(
    app: FlaskClient, sandbox: Sandbox, body: Any, headers: dict[str, str]
) -> None:
    response = app.post("/", json=body, headers=headers)
    assert str(response.status_code) in OPERATION["responses"]
    assert_matches(response.get_json(), "Error")


def test_a_refused_origin_answer_matches_the_schema(app: FlaskClient, sandbox: Sandbox) -> None:
    form = {"name": "From elsewhere"}
    response = app.post("/", data=form, headers={"Origin": "https://evil.test"})
    assert str(response.status_code) in OPERATION["responses"]
    assert_matches(response.get_json(), "Error")


def test_a_refused_unknown_field_matches_the_error_schema(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    body = {"items": [{"fieldData": {"name": "Doc", "emial": "a@example.com"}}]}
    response = app.post("/", json=body, headers=AUTH)
    assert response.status_code == 400
    assert_matches(response.get_json(), "Error")


def test_an_answer_naming_dropped_fields_matches_the_schema(
    webflow_env: dict[str, str], sandbox: Sandbox
) -> None:
    app = make_app(UNMAPPED_FIELDS="drop")
    body = {"items": [{"fieldData": {"name": "Doc with extras", "colour": "red"}}]}
    response = app.post("/", json=body, headers=AUTH)
    assert response.get_json()["results"][0]["ignoredFields"] == ["colour"]
    assert_matches(response.get_json(), "CreateItemsResponse")
