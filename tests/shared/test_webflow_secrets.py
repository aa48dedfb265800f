"""The client's secrets reach the logs' redaction without the client importing the logging: it
announces them (shared/webflow/secrets.py) and the logging masks what it is told."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.core.log import clear_secrets, redact
from shared.webflow import WebflowClient
from shared.webflow.secrets import announce, subscribe

TOKEN = "client-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def test_a_client_s_token_is_masked_in_the_logs_once_the_client_is_made() -> None:
    assert redact(f"sent {TOKEN}") == f"sent {TOKEN}"

    WebflowClient(TOKEN, transport=httpx.MockTransport(lambda request: httpx.Response(200)))

    assert redact(f"sent {TOKEN}") == "sent [REDACTED]"


def test_a_webhook_s_signing_key_is_masked_once_webflow_returns_it() -> None:
    key = "webhook-signing-key-0123456789"

    def webflow(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"webhooks": []})
        return httpx.Response(200, json={"id": "h1", "secretKey": key})

    client = WebflowClient(TOKEN, transport=httpx.MockTransport(webflow), max_retries=0)
    client.create_webhook("66a0b6a5c1f1b2a3d4e5f601", "form_submission", "https://example.com/h")

    assert redact(f"key {key}") == "key [REDACTED]"


def test_a_listener_hears_the_secrets_announced_before_it_came_and_after() -> None:
    heard: list[str] = []
    announce("announced-before-0123")

    subscribe(heard.append)
    announce("announced-after-0123")
    announce("")  # nothing to mask

    assert "announced-before-0123" in heard
    assert heard[-1] == "announced-after-0123"
