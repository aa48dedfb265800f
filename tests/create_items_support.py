"""Helpers for create-items tests: the app under test, in-process or on a real loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.conftest import Sandbox
from tests.items_support import count_writes, load_function

SOURCE = Path(__file__).resolve().parents[1] / "functions" / "create-items" / "main.py"
API_KEY = "create-key-0123456789"
OTHER_KEY = "second-key-9876543210"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ORIGIN = "https://www.example.com"
SUCCESS_URL = "https://www.example.com/thanks"
ERROR_URL = "https://www.example.com/oops"
# What the seed's submissions form declares for public input.
FORM_FIELDS = "name,email,message,attachment,source"


def _flask_app(env: Mapping[str, str]) -> Any:
    """A fresh functions-framework app of create-items with ``env`` applied."""
    return load_function("create-items", "create_items", **env)


def make_app(**env: str) -> FlaskClient:
    """The create-items app as a test client."""
    defaults = {
        "CREATE_ITEMS_API_KEYS": f"{API_KEY},{OTHER_KEY}",
        "ALLOWED_ORIGINS": ORIGIN,
        "FORM_FIELDS": FORM_FIELDS,
        "WEBFLOW_MAX_RETRY_SECONDS": "2",
        # The synchronous path; tests/functions/test_intake.py covers the queue (the default).
        "FORM_INTAKE": "sync",
    }
    return _flask_app({**defaults, **env}).test_client()


@contextmanager
def serve_app(**env: str) -> Iterator[str]:
    """Serve create-items on 127.0.0.1 (a free port) in a thread; yields its URL."""
    app = _flask_app(
        {"WEBFLOW_MAX_RETRY_SECONDS": "2", "FORM_FIELDS": FORM_FIELDS, "FORM_INTAKE": "sync", **env}
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="create-items", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def list_items(sandbox: Sandbox, collection_id: str) -> list[dict[str, Any]]:
    """Every staged item of the collection, read directly from the sandbox."""
    items: list[dict[str, Any]] = []
    with sandbox.api() as api:
        while True:
            page = api.get(
                f"/collections/{collection_id}/items", params={"offset": len(items)}
            ).json()
            items += page["items"]
            if not page["items"] or len(items) >= page["pagination"]["total"]:
                return items


def item_by_slug(sandbox: Sandbox, collection_id: str, slug: str) -> dict[str, Any] | None:
    """The staged item with this slug, or None."""
    with sandbox.api() as api:
        page = api.get(f"/collections/{collection_id}/items", params={"slug": slug}).json()
    return next((item for item in page["items"] if item["fieldData"].get("slug") == slug), None)


def item_by_name(sandbox: Sandbox, collection_id: str, name: str) -> dict[str, Any] | None:
    """The staged item with this name, or None (public submissions' slugs end in a key digest)."""
    with sandbox.api() as api:
        page = api.get(f"/collections/{collection_id}/items", params={"name": name}).json()
    return next((item for item in page["items"] if item["fieldData"].get("name") == name), None)


def writes(sandbox: Sandbox) -> int:
    """Write requests the sandbox has answered since its last reset."""
    return count_writes(sandbox.stats()["byRoute"])


def register_webhook(sandbox: Sandbox, url: str, form_name: str | None = None) -> str:
    """Register a form_submission webhook in the sandbox; return its secret key."""
    body: dict[str, Any] = {"triggerType": "form_submission", "url": url}
    if form_name:
        body["filter"] = {"name": form_name}
    with sandbox.api() as api:
        answer = api.post(f"/sites/{sandbox.site_id}/webhooks", json=body)
    answer.raise_for_status()
    return str(answer.json()["secretKey"])


def deliveries(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's webhook delivery log."""
    return list(sandbox.http.get("/_sandbox/webhooks/deliveries").json()["deliveries"])


def post_raw(url: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    """POST bytes exactly as given."""
    return httpx.post(url, content=body, headers=dict(headers), timeout=30.0)
