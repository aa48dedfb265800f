"""Webhooks: registration and signed form_submission deliveries to a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sandbox.webhooks import Dispatcher, sign
from tests.conftest import Sandbox


class Receiver:
    """A loopback HTTP server recording POSTs; answers the statuses queued in ``replies``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.replies: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.replies.pop(0) if receiver.replies else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"received {len(self.received)} of {count}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def _register(api: httpx.Client, sandbox: Sandbox, url: str, **extra: Any) -> dict[str, Any]:
    response = api.post(
        f"/sites/{sandbox.site_id}/webhooks",
        json={"triggerType": "form_submission", "url": url, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_secret_and_list_shows_the_webhook(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    created = _register(api, sandbox, "http://127.0.0.1:9/hook")

    listed = api.get(f"/sites/{sandbox.site_id}/webhooks").json()

    assert len(created["secretKey"]) >= 32
    assert [w["id"] for w in listed["webhooks"]] == [created["id"]]
    assert "secretKey" not in listed["webhooks"][0]


def test_create_rejects_unknown_trigger_and_bad_url(api: httpx.Client, sandbox: Sandbox) -> None:
    response = api.post(
        f"/sites/{sandbox.site_id}/webhooks", json={"triggerType": "nope", "url": "not-a-url"}
    )

    assert response.status_code == 400
    assert {d["param"] for d in response.json()["details"]} == {"triggerType", "url"}


def test_form_submission_is_delivered_signed_with_the_secret(
    api: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    webhook = _register(api, sandbox, receiver.url)

    sandbox.http.post(
        "/_sandbox/forms/Contact/submit", json={"name": "Ada", "email": "ada@example.com"}
    ).raise_for_status()

    receiver.wait_for(1)
    headers, body = receiver.received[0]
    timestamp = headers["x-webflow-timestamp"]
    expected = hmac.new(
        webhook["secretKey"].encode(), f"{timestamp}:".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["x-webflow-signature"], expected)
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    event = json.loads(body)
    assert event["triggerType"] == "form_submission"
    payload = event["payload"]
    assert (payload["name"], payload["siteId"], payload["data"]) == (
        "Contact",
        sandbox.site_id,
        {"name": "Ada", "email": "ada@example.com"},
    )
    assert [s["fieldName"] for s in payload["schema"]] == ["name", "email"]
    assert {"submittedAt", "id", "formId", "formElementId"} <= set(payload)


def test_failed_delivery_is_retried_until_it_succeeds(
    api: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _register(api, sandbox, receiver.url)
    receiver.replies = [500, 503]

    sandbox.http.post(
        "/_sandbox/forms/Contact/submit", params={"wait": "true"}, json={"name": "Ada"}
    )

    assert len(receiver.received) == 3
    deliveries = sandbox.http.get("/_sandbox/webhooks/deliveries").json()["deliveries"]
    assert [(d["attempts"], d["statuses"], d["delivered"]) for d in deliveries] == [
        (3, [500, 503, 200], True)
    ]


def test_filter_limits_deliveries_to_the_named_form(
    api: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    _register(api, sandbox, receiver.url, filter={"name": "Newsletter"})

    answer = sandbox.http.post(
        "/_sandbox/forms/Contact/submit", params={"wait": "true"}, json={"name": "Ada"}
    ).json()

    assert answer["deliveries"] == 0
    assert receiver.received == []


def test_a_delivery_gives_up_after_three_retries(receiver: Receiver) -> None:
    dispatcher = Dispatcher(retry_delays=(0.0, 0.0, 0.0))
    receiver.replies = [500] * 10
    webhook = {"id": "a" * 24, "url": receiver.url, "secretKey": "s"}

    dispatcher.wait([dispatcher.deliver(webhook, {"triggerType": "form_submission"})], timeout=10)

    assert len(receiver.received) == 4
    (record,) = dispatcher.deliveries
    assert (record["attempts"], record["delivered"], record["done"]) == (4, False, True)


def test_every_attempt_carries_a_valid_signature(receiver: Receiver) -> None:
    dispatcher = Dispatcher(retry_delays=(0.01,))
    receiver.replies = [503]
    webhook = {"id": "a" * 24, "url": receiver.url, "secretKey": "secret"}

    dispatcher.wait([dispatcher.deliver(webhook, {"triggerType": "form_submission"})], timeout=10)

    for headers, body in receiver.received:
        expected = sign("secret", headers["x-webflow-timestamp"], body)
        assert headers["x-webflow-signature"] == expected
    assert len(receiver.received) == 2
