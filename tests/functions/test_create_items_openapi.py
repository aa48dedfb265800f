"""docs/openapi.yml describes what create-items really answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from flask.testing import FlaskClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import Sandbox
from tests.create_items_support import AUTH, make_app

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yml"
DOC: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text())
REGISTRY = Registry().with_resource(
    "urn:api", Resource.from_contents(DOC, default_specification=DRAFT202012)
)
OPERATION = DOC["paths"]["/create-items"]["post"]


def assert_matches(body: Any, schema_name: str) -> None:
    """Validate ``body`` against components/schemas/<schema_name>."""
    schema = {"$ref": f"urn:api#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(body)


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
    ],
)
def test_error_answers_match_the_schema(
    app: FlaskClient, sandbox: Sandbox, body: Any, headers: dict[str, str]
) -> None:
    response = app.post("/", json=body, headers=headers)
    assert str(response.status_code) in OPERATION["responses"]
    assert_matches(response.get_json(), "Error")
