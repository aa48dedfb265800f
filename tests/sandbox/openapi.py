"""Webflow's OpenAPI document, loaded once, its known defects patched in memory, as a validator."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

# Webflow's own document, kept in the repository so that the conformance tests always run.
SPEC_PATH = Path(__file__).resolve().parents[2] / "sandbox" / "spec" / "openapi-v2.yml"

# Properties the real API (and the spec's own examples) answer as null though declared non-null.
NULLABLE_PROPERTIES = frozenset({
    "lastPublished", "externalReference", "parentFolder", "parentFolderId", "altText", "folderId",
    "lastTriggered", "filter", "formElementId", "localeId", "displayImageId", "error",
})  # fmt: skip


def load_spec(cache_dir: Path) -> dict[str, Any]:
    """Parse the YAML once; later sessions read a JSON copy keyed by the file's hash."""
    raw = SPEC_PATH.read_bytes()
    cached = cache_dir / f"openapi-v2-{hashlib.sha256(raw).hexdigest()[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(raw, Loader=loader)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # write then rename: parallel test workers never read a half-written copy
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(spec))
    os.replace(partial, cached)
    return spec


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _add_null(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        kind.append("null")
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


def patch_defects(spec: dict[str, Any]) -> dict[str, Any]:
    """Patch the document's known defects (see shared/webflow/README.md)."""
    for schema in list(_walk(spec.get("paths", {}))):
        # error schemas list two schemas as `items`: either is allowed
        if isinstance(schema.get("items"), list):
            schema["items"] = {"anyOf": schema["items"]}
        # a few error answers are a oneOf of whole response objects, which any body matches
        # twice: validate against their schemas instead
        alternatives = schema.get("oneOf")
        if (
            isinstance(alternatives, list)
            and alternatives
            and all(isinstance(a, dict) and "content" in a for a in alternatives)
        ):
            del schema["oneOf"]
            schema["anyOf"] = [a["content"]["application/json"]["schema"] for a in alternatives]
        # OpenAPI 3.0 `nullable` means nothing to a 2020-12 validator
        if schema.get("nullable") is True:
            _add_null(schema)
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            continue
        for name, prop in properties.items():
            if name in NULLABLE_PROPERTIES and isinstance(prop, dict):
                _add_null(prop)
    items = spec["paths"]["/collections/{collection_id}/items"]
    # update-items 200 (and its live twin): `required` of an item beside the {items: [...]}
    # shape rejects a valid answer
    _response_schema(items["patch"], "200").pop("required", None)
    live = spec["paths"]["/collections/{collection_id}/items/live"]
    _response_schema(live["patch"], "200").pop("required", None)
    # create-item 202 declares only the single-item answer; {items: [...]} answers a list
    created = items["post"]["responses"]["202"]["content"]["application/json"]
    single = created["schema"]
    created["schema"] = {"oneOf": [single, _items_of(single)]}
    # bulk 202 declares one item with cmsLocaleIds; the examples (and the API) answer {items: [...]}
    bulk = spec["paths"]["/collections/{collection_id}/items/bulk"]["post"]["responses"]["202"][
        "content"
    ]["application/json"]
    bulk["schema"] = {"anyOf": [bulk["schema"], _items_of(single)]}
    return spec


def _items_of(item_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": item_schema}},
    }


def _response_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    return operation["responses"][status]["content"]["application/json"]["schema"]


class SpecValidator:
    """Validates answers of the sandbox against the operation's declared response."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        templates = sorted(spec["paths"], key=lambda t: (t.count("{"), -len(t)))
        self._templates = [
            (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", t) + "$"), t) for t in templates
        ]
        self._validators: dict[tuple[str, str, str], Draft202012Validator] = {}
        self.undeclared: set[tuple[str, str, int]] = set()

    def template(self, path: str) -> str:
        """The spec's path template matching a request path under /v2."""
        for pattern, template in self._templates:
            if pattern.match(path):
                return template
        raise LookupError(f"no operation in the spec for {path}")

    def errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Validation errors of one answer (empty when it conforms)."""
        template = self.template(path)
        operation = self.spec["paths"][template].get(method.lower())
        if operation is None:
            raise LookupError(f"no {method} operation on {template} in the spec")
        responses = operation["responses"]
        key = str(status)
        if key not in responses:
            if status < 400:
                return [f"{method} {template}: status {status} not declared"]
            # every error answer shares one shape; validate against the operation's 400
            self.undeclared.add((method, template, status))
            key = "400"
        content = responses[key].get("content", {}).get("application/json")
        if content is None:
            return (
                []
                if body is None
                else [f"{method} {template} {status}: body where none is declared"]
            )
        validator = self._validators.get((method, template, key))
        if validator is None:
            validator = Draft202012Validator(content["schema"])
            self._validators[(method, template, key)] = validator
        return [
            f"{method} {template} {status}: {error.message} at {list(error.absolute_path)}"
            for error in validator.iter_errors(body)
        ]
