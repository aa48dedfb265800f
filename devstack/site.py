"""The demo site: two forms into the chain and a live view of the CMS, served by the standard library.

The page never sees a Webflow token: the live view calls this server's /api/state, which reads the
sandbox server-side with the read-only token and returns only what the page shows.
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from devstack.procs import ServiceLog

__all__ = ["DemoSite", "SiteConfig", "item_status"]

# The image field shown for each collection of the sandbox's default seed.
IMAGE_FIELDS = {"submissions": "attachment", "gallery": "image", "posts": "hero"}
SHOWN_ITEMS = 20
STATIC = {
    "/app.js": "application/javascript; charset=utf-8",
    "/style.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class SiteConfig:
    """What the demo site needs to know about the stack."""

    host: str
    port: int
    api_base_url: str  # sandbox /v2
    control_url: str  # sandbox /_sandbox
    read_token: str
    site_id: str
    collections: dict[str, str]  # name -> id
    create_items_url: str
    webflow_form_name: str = "Contact"
    # drain-intake's status (GET with an intake key): the queue's counts in the live view.
    intake_url: str | None = None
    intake_key: str | None = None
    cache_seconds: float = 4.0
    # The challenge the form carries (FORM_CAPTCHA) and where its stand-in issues tokens.
    captcha: str | None = None
    siteverify_url: str | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"


def item_status(item: dict[str, Any]) -> str:
    """Webflow's publishing status of a staged item (the July 2025 model)."""
    if item.get("isArchived"):
        return "archived"
    published, updated = item.get("lastPublished"), item.get("lastUpdated")
    if not published:
        return "draft" if item.get("isDraft") else "queued to publish"
    if item.get("isDraft"):
        return "changes in draft"
    if updated and updated > published:  # ISO 8601 in UTC with Z: text order is time order
        return "queued to publish"
    return "published"


class _StateReader:
    """Reads the collections and assets from the sandbox, cached for a few seconds."""

    def __init__(self, config: SiteConfig):
        self.config = config
        self._http = httpx.Client(
            base_url=config.api_base_url,
            headers={"Authorization": f"Bearer {config.read_token}"},
            timeout=10.0,
        )
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    def state(self) -> dict[str, Any]:
        with self._lock:  # one reader at a time: concurrent page polls share one sandbox read
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.config.cache_seconds:
                return self._cached[1]
            state = self._read()
            self._cached = (now, state)
            return state

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _read(self) -> dict[str, Any]:
        # Each part is read on its own, so that one failing read still shows the rest.
        collections: dict[str, Any] = {}
        for name, collection_id in sorted(self.config.collections.items(), key=_display_order):
            try:
                collections[name] = self._read_collection(name, collection_id)
            except (httpx.HTTPError, ValueError) as exc:
                collections[name] = {"id": collection_id, "items": [], "error": _reason(exc)}
        state: dict[str, Any] = {"collections": collections, "assets": [], "assetsTotal": None}
        try:
            assets = self._get(f"/sites/{self.config.site_id}/assets").get("assets", [])
        except (httpx.HTTPError, ValueError) as exc:
            state["assetsError"] = _reason(exc)
        else:
            assets.sort(key=lambda asset: asset.get("createdOn") or "", reverse=True)
            state["assetsTotal"] = len(assets)
            state["assets"] = [
                {
                    "id": asset.get("id"),
                    "fileName": asset.get("originalFileName") or asset.get("displayName"),
                    "url": asset.get("hostedUrl"),
                    "size": asset.get("size"),
                    "contentType": asset.get("contentType"),
                    "createdOn": asset.get("createdOn"),
                }
                for asset in assets[:SHOWN_ITEMS]
            ]
        if self.config.intake_url:
            try:
                state["intake"] = self._intake_counts(self.config.intake_url)
            except (httpx.HTTPError, ValueError) as exc:
                state["intakeError"] = _reason(exc)
        state["readAt"] = time.strftime("%H:%M:%S")
        return state

    def _intake_counts(self, url: str) -> dict[str, Any]:
        """Submissions queued, written (done) and failed, from drain-intake."""
        response = self._http.get(
            url,
            headers={"Authorization": f"Bearer {self.config.intake_key}"},
        )
        response.raise_for_status()
        counts: dict[str, Any] = response.json()
        return counts

    def _read_collection(self, name: str, collection_id: str) -> dict[str, Any]:
        newest = {"limit": SHOWN_ITEMS, "sortBy": "createdOn", "sortOrder": "desc"}
        staged = self._get(f"/collections/{collection_id}/items", **newest)
        live = self._get(f"/collections/{collection_id}/items/live", **newest)
        live_ids = {item["id"] for item in live.get("items", [])}
        image_field = IMAGE_FIELDS.get(name)
        return {
            "id": collection_id,
            "stagedTotal": staged.get("pagination", {}).get("total"),
            "liveTotal": live.get("pagination", {}).get("total"),
            "items": [_shown_item(item, image_field, live_ids) for item in staged.get("items", [])],
        }

    def close(self) -> None:
        self._http.close()


def _display_order(entry: tuple[str, str]) -> tuple[int, str]:
    """Where the forms write first, then the gallery, then the rest."""
    order = {"submissions": 0, "gallery": 1, "posts": 2}
    return order.get(entry[0], len(order)), entry[0]


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from the sandbox"
    return f"{type(exc).__name__} reading the sandbox"


def _shown_item(
    item: dict[str, Any], image_field: str | None, live_ids: set[str]
) -> dict[str, Any]:
    fields = item.get("fieldData") or {}
    image = fields.get(image_field) if image_field else None
    if isinstance(image, list):  # MultiImage: show the first
        image = image[0] if image else None
    return {
        "id": item.get("id"),
        "name": fields.get("name"),
        "slug": fields.get("slug"),
        "status": item_status(item),
        "live": item.get("id") in live_ids,
        "image": image.get("url") if isinstance(image, dict) else None,
        "createdOn": item.get("createdOn"),
        "lastPublished": item.get("lastPublished"),
    }


class DemoSite:
    """The demo site's HTTP server, run in a thread of the stack's process."""

    def __init__(self, config: SiteConfig, log: ServiceLog):
        self.config = config
        self.log = log
        self.reader = _StateReader(config)
        self._http = httpx.Client(timeout=30.0)
        handler = type("Handler", (_Handler,), {"site": self})
        self.server = ThreadingHTTPServer((config.host, config.port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.config.origin

    def render_index(self) -> bytes:
        """The page, with the form targets filled in (the forms work without JavaScript)."""
        template = resources.files("devstack").joinpath("site/index.html").read_text("utf-8")
        values = {
            "CREATE_ITEMS_URL": self.config.create_items_url,
            "FORM_REDIRECT": f"{self.config.origin}/?sent=form",
            "WEBFLOW_FORM_NAME": self.config.webflow_form_name,
        }
        for key, value in values.items():
            template = template.replace("{{" + key + "}}", html.escape(value, quote=True))
        return template.replace("{{CAPTCHA}}", self._captcha_field()).encode("utf-8")

    def _captcha_field(self) -> str:
        """The field the provider's widget adds once solved: here solved by the stand-in."""
        if not self.config.captcha or not self.config.siteverify_url:
            return ""
        from shared.web.spam import TOKEN_FIELDS

        answer = self._http.post(
            f"{self.config.siteverify_url}/_fake/tokens",
            json={"provider": self.config.captcha, "hostname": self.config.host, "score": 0.9},
        )
        token = str(answer.raise_for_status().json()["token"])
        name = TOKEN_FIELDS[self.config.captcha]
        return (
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(token)}">'
            f'<p class="hint">{html.escape(self.config.captcha)} challenge: solved (played '
            "locally; a real page shows the provider's widget here)</p>"
        )

    def submit_webflow_form(self, fields: dict[str, str]) -> httpx.Response:
        """Play a visitor submitting the Webflow form: the sandbox then sends its webhook."""
        url = f"{self.config.control_url}/forms/{self.config.webflow_form_name}/submit"
        return self._http.post(url, json=fields)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="demo-site",
            daemon=True,
        )
        self._thread.start()
        self.log.info(f"serving {self.url}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.reader.close()
        self._http.close()


class _Handler(BaseHTTPRequestHandler):
    site: DemoSite
    server_version = "devstack-demo"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The live view polls every few seconds: log submissions and failures, not every poll.
        status = int(code) if str(code).isdigit() else 0
        if self.command != "GET" or status >= 400:
            self.site.log.info(f"{self.command} {self.path} {code}")

    def log_message(self, format: str, *args: Any) -> None:
        self.site.log.info(format % args)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.site.render_index(), "text/html; charset=utf-8")
        elif path in STATIC:
            body = resources.files("devstack").joinpath(f"site{path}").read_bytes()
            self._send(HTTPStatus.OK, body, STATIC[path])
        elif path == "/api/state":
            self._json(HTTPStatus.OK, self.site.reader.state())
        elif path == "/healthz":
            self._json(HTTPStatus.OK, {"ok": True})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/api/webflow-form":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 * 1024:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "form too large"})
            return
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                fields = {str(k): str(v) for k, v in json.loads(raw or "{}").items()}
            except (ValueError, AttributeError):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "body must be a JSON object"})
                return
        else:
            fields = dict(parse_qsl(raw, keep_blank_values=True))
        try:
            answer = self.site.submit_webflow_form(fields)
        except httpx.HTTPError as exc:
            self._json(HTTPStatus.BAD_GATEWAY, {"error": f"sandbox unreachable: {exc}"})
            return
        if "application/json" in (self.headers.get("Accept") or ""):
            self._send(answer.status_code, answer.content, "application/json")
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/?sent=webhook" if answer.is_success else "/?sent=error")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
