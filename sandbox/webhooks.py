"""Webhooks: registrations through the Data API, and signed form_submission deliveries.

``POST /_sandbox/forms/{formName}/submit`` plays a visitor submitting a form: every
form_submission webhook of the site (whose filter, if any, names that form) receives the
payload, signed as Webflow signs it. Failed deliveries are retried in a background thread.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import not_found, validation_error
from .ids import new_id, now_iso
from .routing import Request, Response, Route
from .server import App
from .store import Doc
from .validation import URL_RE

log = logging.getLogger("sandbox.webhooks")

TRIGGER_TYPES = frozenset({
    "form_submission", "site_publish", "page_created", "page_metadata_updated", "page_deleted",
    "ecomm_new_order", "ecomm_order_changed", "ecomm_inventory_changed", "collection_item_created",
    "collection_item_changed", "collection_item_deleted", "collection_item_published",
    "collection_item_unpublished", "comment_created",
})  # fmt: skip
# Webflow retries three times, ten minutes apart; the sandbox keeps the count, not the wait.
RETRY_DELAYS_SECONDS: tuple[float, ...] = (0.5, 1.0, 2.0)
DELIVERY_TIMEOUT_SECONDS = 5.0
WEBHOOK_FIELDS = (
    "id",
    "triggerType",
    "url",
    "workspaceId",
    "siteId",
    "filter",
    "lastTriggered",
    "createdOn",
)


def sign(secret: str, timestamp_ms: str, body: bytes) -> str:
    """Webflow's signature: hex HMAC-SHA256 of ``"{timestamp}:{raw body}"``."""
    message = timestamp_ms.encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def render_webhook(webhook: Doc) -> Doc:
    """A webhook as the API lists it (without its secret)."""
    return {key: webhook.get(key) for key in WEBHOOK_FIELDS}


class Dispatcher:
    """Delivers webhook payloads on background threads and keeps a log of the outcomes."""

    def __init__(self, retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS) -> None:
        self.retry_delays = tuple(retry_delays)
        self._lock = threading.Lock()
        self._generation = 0
        self.deliveries: list[Doc] = []

    def reset(self) -> None:
        """Forget the log; deliveries still in flight stop recording."""
        with self._lock:
            self._generation += 1
            self.deliveries = []

    def close(self) -> None:
        """Stop recording (threads are daemons and end on their own)."""
        self.reset()

    def deliver(self, webhook: Doc, payload: Doc) -> threading.Thread:
        """Start delivering ``payload`` to ``webhook``; returns the delivering thread."""
        record = {
            "id": new_id(),
            "webhookId": webhook["id"],
            "url": webhook["url"],
            "triggerType": payload.get("triggerType"),
            "attempts": 0,
            "statuses": [],
            "delivered": False,
            "done": False,
        }
        with self._lock:
            generation = self._generation
            self.deliveries.append(record)
        thread = threading.Thread(
            target=self._run,
            args=(webhook, payload, record, generation),
            daemon=True,
            name="webhook",
        )
        thread.start()
        return thread

    def _run(self, webhook: Doc, payload: Doc, record: Doc, generation: int) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            time.sleep(delay)
            if generation != self._generation:
                return
            status = self._post(webhook, body)
            with self._lock:
                record["attempts"] = attempt + 1
                record["statuses"].append(status)
                if status is not None and 200 <= status < 300:
                    record["delivered"] = True
                    break
        with self._lock:
            record["done"] = True
        if not record["delivered"]:
            log.warning(
                "webhook %s to %s failed after %d attempts",
                webhook["id"],
                webhook["url"],
                record["attempts"],
            )

    @staticmethod
    def _post(webhook: Doc, body: bytes) -> int | None:
        """One signed POST; the status, or None when the receiver could not be reached."""
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "User-Agent": "Webflow",
            "x-webflow-timestamp": timestamp,
            "x-webflow-signature": sign(webhook["secretKey"], timestamp, body),
        }
        url = urlsplit(webhook["url"])
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        connection = connection_class(
            url.hostname or "127.0.0.1", url.port, timeout=DELIVERY_TIMEOUT_SECONDS
        )
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            log.info("webhook delivery to %s failed: %s", webhook["url"], exc)
            return None
        finally:
            connection.close()

    def wait(self, threads: Sequence[threading.Thread], timeout: float) -> None:
        """Wait for the given deliveries to finish (retries included)."""
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class WebhooksApi:
    """Webhook registrations and the sandbox's form submissions."""

    def __init__(self, app: App, dispatcher: Dispatcher | None = None) -> None:
        self.app = app
        self.dispatcher = dispatcher or Dispatcher()
        app.extensions.append(self.dispatcher)

    def routes(self) -> list[Route]:
        """The webhook routes."""
        return [
            Route("GET", "/v2/sites/{site_id}/webhooks", self.list_webhooks, scope="sites:read"),
            Route("POST", "/v2/sites/{site_id}/webhooks", self.create_webhook, scope="sites:write"),
            Route("GET", "/v2/webhooks/{webhook_id}", self.get_webhook, scope="sites:read"),
            Route("DELETE", "/v2/webhooks/{webhook_id}", self.delete_webhook, scope="sites:write"),
            Route("POST", "/_sandbox/forms/{form_name}/submit", self.submit_form, kind="control"),
            Route("GET", "/_sandbox/webhooks/deliveries", self.list_deliveries, kind="control"),
        ]

    def _webhook(self, request: Request, webhook_id: str) -> Doc:
        webhook = self.app.store.state.webhooks.get(webhook_id)
        if webhook is None:
            raise not_found(what="Webhook")
        self.app.site_for(request, webhook["siteId"])
        return webhook

    def list_webhooks(self, request: Request, site_id: str) -> Response:
        """GET /sites/{site_id}/webhooks."""
        self.app.site_for(request, site_id)
        webhooks = [
            render_webhook(w)
            for w in list(self.app.store.state.webhooks.values())
            if w["siteId"] == site_id
        ]
        pagination = {"limit": 100, "offset": 0, "total": len(webhooks)}
        return Response.json(200, {"webhooks": webhooks, "pagination": pagination})

    def create_webhook(self, request: Request, site_id: str) -> Response:
        """POST /sites/{site_id}/webhooks: 201 with the webhook and its secretKey."""
        site = self.app.site_for(request, site_id)
        body = request.json()
        if not isinstance(body, dict):
            raise validation_error([{"param": "body", "description": "Must be an object"}])
        problems = []
        if body.get("triggerType") not in TRIGGER_TYPES:
            problems.append(
                {"param": "triggerType", "description": "Must be a supported trigger type"}
            )
        url = body.get("url")
        if not isinstance(url, str) or not URL_RE.match(url):
            problems.append({"param": "url", "description": "Must be a valid URL"})
        webhook_filter = body.get("filter")
        if webhook_filter is not None and not (
            isinstance(webhook_filter, dict) and isinstance(webhook_filter.get("name", ""), str)
        ):
            problems.append({"param": "filter", "description": "Must be an object {name}"})
        if problems:
            raise validation_error(problems)
        webhook = {
            "id": new_id(),
            "triggerType": body["triggerType"],
            "url": url,
            "workspaceId": site.get("workspaceId"),
            "siteId": site_id,
            "filter": webhook_filter,
            "lastTriggered": None,
            "createdOn": now_iso(),
            "secretKey": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        }
        with self.app.store.lock, self.app.store.transaction():
            self.app.store.put_webhook(webhook)
        return Response.json(201, dict(render_webhook(webhook), secretKey=webhook["secretKey"]))

    def get_webhook(self, request: Request, webhook_id: str) -> Response:
        """GET /webhooks/{webhook_id}."""
        return Response.json(200, render_webhook(self._webhook(request, webhook_id)))

    def delete_webhook(self, request: Request, webhook_id: str) -> Response:
        """DELETE /webhooks/{webhook_id}."""
        with self.app.store.lock, self.app.store.transaction():
            self._webhook(request, webhook_id)
            self.app.store.delete_webhook(webhook_id)
        return Response.empty(204)

    # ------------------------------------------------------------------ sandbox-only
    def submit_form(self, request: Request, form_name: str) -> Response:
        """POST /_sandbox/forms/{formName}/submit: deliver form_submission webhooks.

        ``?wait=true`` answers only once every delivery (with its retries) is over.
        """
        data = request.json()
        if not isinstance(data, dict):
            raise validation_error(
                [{"param": "body", "description": "must be an object of field values"}],
                "Body must be an object of field values",
            )
        site = self.app.store.seed_site()
        form = next((f for f in site.get("forms", []) if f.get("name") == form_name), None)
        form = form or {"name": form_name, "id": new_id(), "elementId": str(uuid.uuid4())}
        payload: Doc = {
            "triggerType": "form_submission",
            "payload": {
                "name": form_name,
                "siteId": site["id"],
                "data": data,
                "schema": [
                    {
                        "fieldName": key,
                        "fieldType": _field_type(value),
                        "fieldElementId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{form_name}/{key}")),
                    }
                    for key, value in data.items()
                ],
                "submittedAt": now_iso(),
                "id": new_id(),
                "formId": form["id"],
                "formElementId": form.get("elementId"),
                "localeId": None,
            },
        }
        threads = []
        with self.app.store.lock, self.app.store.transaction():
            for webhook in list(self.app.store.state.webhooks.values()):
                if webhook["siteId"] != site["id"] or webhook["triggerType"] != "form_submission":
                    continue
                wanted = (webhook.get("filter") or {}).get("name")
                if wanted and wanted != form_name:
                    continue
                self.app.store.put_webhook(
                    dict(webhook, lastTriggered=payload["payload"]["submittedAt"])
                )
                threads.append(self.dispatcher.deliver(webhook, payload))
        if request.bool_arg("wait", False):
            self.dispatcher.wait(threads, timeout=60)
        return Response.json(
            202,
            {
                "submissionId": payload["payload"]["id"],
                "deliveries": len(threads),
                "payload": payload,
            },
        )

    def list_deliveries(self, request: Request) -> Response:
        """GET /_sandbox/webhooks/deliveries: what was delivered, attempts and statuses."""
        return Response.json(200, {"deliveries": [dict(d) for d in self.dispatcher.deliveries]})


def _field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "FormCheckboxInput"
    if isinstance(value, str) and "\n" in value:
        return "FormTextarea"
    return "FormTextInput"
