"""How the soak's callers send, as clients would: JSON batches, website form posts and signed
Webflow webhooks, each retried after a 429 or 503 as its sender does."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import _procs  # noqa: F401  (puts the repository root on sys.path)
from devstack.demo import make_png

__all__ = [
    "TRANSIENT",
    "Ledger",
    "deliver_webhook",
    "form_post",
    "json_batch",
    "png_image",
    "retry_delay",
    "send_with_retries",
    "sign",
    "submission_fields",
]


def png_image(rng: random.Random, size: int = 16) -> bytes:
    """A small, valid PNG, unique for each draw of ``rng``."""
    return make_png(size, size, seed=rng.randbytes(8).hex())


def submission_fields(run: str, kind: str, index: int) -> dict[str, str]:
    name = f"Soak {run} {kind} {index}"
    return {
        "name": name,
        "email": f"soak.{run}.{kind}.{index}@example.com",
        "message": f"Message {index} via {kind}.",
    }


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        try:
            return min(5.0, max(0.2, float(response.headers.get("Retry-After", ""))))
        except ValueError:
            pass
    return min(5.0, 0.25 * 2.0**attempt)


def send_with_retries(
    ledger: Ledger, counter: str, send: Callable[[], httpx.Response], *, attempts: int = 8
) -> httpx.Response | None:
    """Call `send` until it answers something other than a transient failure; the last answer."""
    response: httpx.Response | None = None
    for attempt in range(attempts):
        try:
            response = send()
        except httpx.TransportError:
            ledger.count(f"{counter}.connectionErrors")
            response = None
        else:
            if response.status_code not in TRANSIENT:
                return response
            ledger.count(f"{counter}.status{response.status_code}")
        ledger.count(f"{counter}.retries")
        time.sleep(retry_delay(response, attempt))
    return response


def json_batch(ledger: Ledger, client: httpx.Client, url: str, batch: list[dict[str, str]]) -> None:
    """One JSON call; the whole call is sent again while any of its items is not created."""
    body = {"items": [{"fieldData": fields} for fields in batch]}
    pending = {fields["name"] for fields in batch}
    answer = "no answer"
    for attempt in range(8):
        response = send_with_retries(ledger, "json", lambda: client.post(url, json=body))
        if response is None:
            break
        answer = f"{response.status_code} {response.text[:200]}"
        results = (
            response.json().get("results", [])
            if response.headers.get("content-type", "").startswith("application/json")
            else []
        )
        for result in results:
            name = batch[result["index"]]["name"]
            if result.get("status") in ("created", "existing"):
                with ledger.lock:
                    ledger.accepted.add(name)
                    if result.get("slug"):
                        ledger.slugs[name] = result["slug"]
                pending.discard(name)
        if not pending:
            return
        ledger.count("json.partialRetries")
        time.sleep(retry_delay(response, attempt))
    with ledger.lock:
        for name in pending:
            ledger.refused[name] = answer


def form_post(
    ledger: Ledger,
    client: httpx.Client,
    url: str,
    fields: dict[str, str],
    index: int,
    image: bytes | None,
) -> None:
    """A browser's form post (JSON answer asked for), from its own address; resent on failure."""
    headers = {
        "Accept": "application/json",
        "X-Forwarded-For": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
    }

    def send() -> httpx.Response:
        if image is None:
            return client.post(url, data=fields, headers=headers)
        files = {"attachment": (f"photo-{index}.png", io.BytesIO(image), "image/png")}
        return client.post(url, data=fields, files=files, headers=headers)

    response = send_with_retries(ledger, "form", send)
    name = fields["name"]
    with ledger.lock:
        if response is not None and response.status_code < 300:
            ledger.accepted.add(name)
            body = _json(response)
            for result in body.get("results", []) if isinstance(body, dict) else []:
                if result.get("slug"):
                    ledger.slugs[name] = result["slug"]
        else:
            ledger.refused[name] = (
                "no answer" if response is None else f"{response.status_code} {response.text[:200]}"
            )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def deliver_webhook(
    ledger: Ledger, client: httpx.Client, url: str, secret: str, payload: dict[str, Any]
) -> int | None:
    """Deliver a form_submission webhook as Webflow does (a redelivery carries the same payload)."""
    body = json.dumps(payload, separators=(",", ":")).encode()

    def send() -> httpx.Response:
        timestamp = str(int(time.time() * 1000))
        return client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "x-webflow-timestamp": timestamp,
                "x-webflow-signature": sign(secret, timestamp, body),
            },
        )

    response = send_with_retries(ledger, "webhookRedelivery", send)
    return None if response is None else response.status_code


TRANSIENT = {408, 429, 500, 502, 503, 504}


@dataclass
class Ledger:
    """Everything that was sent and what each caller was told."""

    run: str
    names: dict[str, str] = field(default_factory=dict)  # submission name -> kind
    accepted: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # name -> last answer, after every retry
    slugs: dict[str, str] = field(default_factory=dict)  # name -> slug create-items reported
    webhook_payloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> payload
    objects: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # object name -> {kind, md5, item}
    image_md5: dict[str, str] = field(default_factory=dict)  # md5 -> object name (or form name)
    counters: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counters[key] += n
