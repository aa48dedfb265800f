"""Helpers of the item functions' tests: their apps, and CMS items arranged in the sandbox
directly over its API (not through the code under test)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import functions_framework
import httpx
from flask import Flask
from flask.testing import FlaskClient

CHUNK = 100
FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


def load_function(folder: str, target: str, signature: str = "http", **env: str) -> Flask:
    """The one way tests build a function: a fresh functions-framework app of
    functions/<folder>/main.py with ``env`` applied and the instance's state reset (create_app
    loads main.py anew, but the process-wide clients and caches live on)."""
    os.environ.update(env)
    source = FUNCTIONS / folder / "main.py"
    app = functions_framework.create_app(target, str(source), signature)
    sys.modules["main"].reset_state()
    return app


def function_app(folder: str, target: str, signature: str = "http", **env: str) -> FlaskClient:
    """:func:`load_function`'s app as a test client."""
    return load_function(folder, target, signature, **env).test_client()


def cms_locale_ids(sandbox: Any) -> list[str]:
    """The sandbox site's cmsLocaleIds, primary first."""
    primary = sandbox.locales["primary"]["cmsLocaleId"]
    return [primary] + [locale["cmsLocaleId"] for locale in sandbox.locales["secondary"]]


def post_fields(prefix: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """fieldData for ``count`` posts named ``{prefix} {n}`` with slugs ``{prefix}-{n}``."""
    return [
        {"name": f"{prefix} {n}", "slug": f"{prefix}-{n}", "summary": f"summary {n}", "rating": 1}
        for n in range(start, start + count)
    ]


def create_items(
    api: httpx.Client,
    collection_id: str,
    field_data: Sequence[dict[str, Any]],
    *,
    cms_locale_ids: Sequence[str] | None = None,
    is_draft: bool = False,
) -> list[dict[str, Any]]:
    """Create staged items (in every given locale, else the primary one); return them in order."""
    created: list[dict[str, Any]] = []
    for start in range(0, len(field_data), CHUNK):
        chunk = list(field_data[start : start + CHUNK])
        if cms_locale_ids:
            body = {"cmsLocaleIds": list(cms_locale_ids), "isDraft": is_draft, "fieldData": chunk}
            answer = (
                api.post(f"/collections/{collection_id}/items/bulk", json=body)
                .raise_for_status()
                .json()
            )
        else:
            body = {"items": [{"isDraft": is_draft, "fieldData": data} for data in chunk]}
            answer = (
                api.post(f"/collections/{collection_id}/items", json=body).raise_for_status().json()
            )
        created.extend(answer["items"])
    return _first_variant_per_id(created)


def _first_variant_per_id(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item["id"], item)
    return list(seen.values())


def publish_items(api: httpx.Client, collection_id: str, item_ids: Sequence[str]) -> None:
    """Publish items (all their locales) directly."""
    for start in range(0, len(item_ids), CHUNK):
        body = {"itemIds": list(item_ids[start : start + CHUNK])}
        api.post(f"/collections/{collection_id}/items/publish", json=body).raise_for_status()


def get_item(
    api: httpx.Client,
    collection_id: str,
    item_id: str,
    *,
    live: bool = False,
    cms_locale_id: str | None = None,
) -> dict[str, Any]:
    """One item variant as the API shows it (staged or live)."""
    path = f"/collections/{collection_id}/items/{item_id}" + ("/live" if live else "")
    params = {"cmsLocaleId": cms_locale_id} if cms_locale_id else None
    return api.get(path, params=params).raise_for_status().json()


def count_writes(by_route: dict[str, int]) -> int:
    """Write requests (POST, PATCH, PUT, DELETE) among the sandbox's per-route counts."""
    return sum(
        count
        for route, count in by_route.items()
        if route.split(" ", 1)[0] in {"POST", "PATCH", "PUT", "DELETE"}
    )


class RequestCounter:
    """Counts the sandbox's API requests made from now on (its statistics minus a baseline)."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self._baseline: dict[str, int] = dict(sandbox.stats()["byRoute"])

    def _since(self) -> dict[str, int]:
        current: dict[str, int] = self._sandbox.stats()["byRoute"]
        return {route: count - self._baseline.get(route, 0) for route, count in current.items()}

    def routes(self, method: str, suffix: str) -> int:
        """Requests of ``method`` to routes whose template ends with ``suffix``."""
        return sum(
            count
            for route, count in self._since().items()
            if route.startswith(f"{method} ") and route.endswith(suffix)
        )

    def writes(self) -> int:
        """Write requests (POST, PATCH, PUT, DELETE)."""
        return count_writes(self._since())
