"""docs/openapi.yml loaded once, and a check of a body against one of its schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.yml"
DOC: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text())
REGISTRY = Registry().with_resource(
    "urn:api", Resource.from_contents(DOC, default_specification=DRAFT202012)
)


def operation(path: str, method: str = "post") -> dict[str, Any]:
    """The document's operation for a function path such as /update-items."""
    return DOC["paths"][path][method]


def assert_matches(body: Any, schema_name: str) -> None:
    """Validate ``body`` against components/schemas/<schema_name>."""
    schema = {"$ref": f"urn:api#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(body)
