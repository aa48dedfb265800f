"""Functional tests of create-items' Webflow form_submission webhooks, delivered by the sandbox.

create-items is served on a real loopback port so that the sandbox's dispatcher can reach it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.web.webhooks import sign
from tests.conftest import Sandbox
from tests.create_items_support import (
    deliveries,
    item_by_name,
    list_items,
    post_raw,
    register_webhook,
    serve_app,
    writes,
)

FIELDS = {"Name": "Marie Curie", "Email": "marie@example.com", "Message": "Radium"}


@pytest.fixture
def served(
    webflow_env: dict[str, str], sandbox: Sandbox, submissions: str
) -> Iterator[tuple[str, str]]:
    """create-items on a real port with a registered webhook; yields (url, secret).

    The secret exists only once the webhook (which needs the URL) is registered; settings are read
    on the first request, so setting it now is in time.
    """
    with serve_app(WEBFLOW_COLLECTION_ID=submissions) as url:
        key = register_webhook(sandbox, url)
        os.environ["WEBFLOW_WEBHOOK_SECRET"] = key
        yield url, key


def submit(sandbox: Sandbox, form_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Play a visitor submitting a Webflow form; waits for every delivery."""
    answer = sandbox.http.post(
        f"/_sandbox/forms/{form_name}/submit", params={"wait": "true"}, json=fields
    )
    answer.raise_for_status()
    return dict(answer.json())


def signed_headers(secret: str, body: bytes, timestamp_ms: int | None = None) -> dict[str, str]:
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "x-webflow-timestamp": timestamp,
        "x-webflow-signature": sign(secret, timestamp, body),
    }


def test_a_signed_delivery_from_the_sandbox_creates_the_item(
    served: tuple[str, str], sandbox: Sandbox, submissions: str
) -> None:
    submit(sandbox, "Contact", FIELDS)
    [delivery] = deliveries(sandbox)
    assert delivery["statuses"] == [201], delivery
    item = item_by_name(sandbox, submissions, "Marie Curie")
    assert item is not None
    assert item["fieldData"]["email"] == "marie@example.com"


def test_a_replayed_delivery_resolves_to_the_same_item(
    served: tuple[str, str], sandbox: Sandbox, submissions: str
) -> None:
    url, secret = served
    payload = submit(sandbox, "Contact", FIELDS)["payload"]
    before = list_items(sandbox, submissions)
    body = json.dumps(payload).encode()
    answer = post_raw(url, body, signed_headers(secret, body))
    assert answer.status_code == 200
    result = answer.json()["results"][0]
    assert result["status"] == "existing"
    assert result["id"] is None  # the public answer names no item it did not create
    assert list_items(sandbox, submissions) == before


def test_a_tampered_delivery_is_401_and_writes_nothing(
    served: tuple[str, str], sandbox: Sandbox
) -> None:
    url, secret = served
    payload = {
        "triggerType": "form_submission",
        "payload": {"id": "s1", "name": "Contact", "data": FIELDS},
    }
    body = json.dumps(payload).encode()
    headers = signed_headers(secret, body)
    tampered = body.replace(b"Marie Curie", b"Mallory")
    answer = post_raw(url, tampered, headers)
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_signature")
    assert writes(sandbox) == 1  # the webhook registration only


def test_a_stale_delivery_is_401_and_writes_nothing(
    served: tuple[str, str], sandbox: Sandbox
) -> None:
    url, secret = served
    body = json.dumps(
        {"triggerType": "form_submission", "payload": {"id": "s2", "data": FIELDS}}
    ).encode()
    six_minutes_ago = int((time.time() - 360) * 1000)
    answer = post_raw(url, body, signed_headers(secret, body, six_minutes_ago))
    assert (answer.status_code, answer.json()["code"]) == (401, "stale_signature")
    assert writes(sandbox) == 1


def test_an_unsigned_delivery_is_401(served: tuple[str, str]) -> None:
    url, _ = served
    body = json.dumps(
        {"triggerType": "form_submission", "payload": {"id": "s3", "data": FIELDS}}
    ).encode()
    answer = post_raw(url, body, {"Content-Type": "application/json", "x-webflow-timestamp": "1"})
    assert (answer.status_code, answer.json()["code"]) == (401, "missing_signature")


def test_forms_outside_form_names_are_acknowledged_and_ignored(
    webflow_env: dict[str, str], sandbox: Sandbox, submissions: str
) -> None:
    with serve_app(WEBFLOW_COLLECTION_ID=submissions, FORM_NAMES="Contact,Support") as url:
        os.environ["WEBFLOW_WEBHOOK_SECRET"] = register_webhook(sandbox, url)
        submit(sandbox, "Newsletter", FIELDS)
        submit(sandbox, "Support", {**FIELDS, "Name": "Support Case"})
    statuses = sorted(status for d in deliveries(sandbox) for status in d["statuses"])
    assert statuses == [201, 202]
    assert item_by_name(sandbox, submissions, "Marie Curie") is None
    assert item_by_name(sandbox, submissions, "Support Case") is not None


def test_an_invalid_submission_is_acknowledged_without_an_item(
    served: tuple[str, str], sandbox: Sandbox, submissions: str
) -> None:
    submit(sandbox, "Contact", {"Name": "No Email"})
    [delivery] = deliveries(sandbox)
    # A 4xx would be retried by Webflow and then disable the webhook: a poison delivery is acked.
    assert delivery["statuses"] == [202]
    assert item_by_name(sandbox, submissions, "No Email") is None


def test_without_a_configured_secret_every_delivery_is_401(
    webflow_env: dict[str, str], sandbox: Sandbox, submissions: str
) -> None:
    with serve_app(WEBFLOW_COLLECTION_ID=submissions) as url:
        body = json.dumps(
            {"triggerType": "form_submission", "payload": {"id": "s4", "data": FIELDS}}
        ).encode()
        answer = post_raw(url, body, signed_headers("guessed-secret", body))
    assert answer.status_code == 401
