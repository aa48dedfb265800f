"""The intake queue under the traffic it is for: a burst of visitors and webhooks, and a Webflow outage.

Both run the whole local stack (devstack: the sandbox at R requests a minute, fake-gcs-server,
create-items queueing, drain-intake fed by the Eventarc bridge and the sweep), with the per-client
form limit off and drain-intake's batch window at its cloud default (5 s).

- **burst**: `forms` form posts and `webhooks` signed form_submission webhooks sent within `seconds`
  (evenly spread, concurrently): each visitor's answer time, the seconds from the burst's end until
  every item is in the CMS, the Webflow create requests spent, and lost and duplicated items.
- **outage**: the sandbox answers 500 to every call for `outage_seconds` while the posts and webhooks
  arrive (all at its start, and spread over it), then recovers: every visitor answered 2xx/303, the
  seconds from recovery until every item is in the CMS without any replay, the failed set, lost
  and duplicated items.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench import _procs  # noqa: F401  (puts the repository root on sys.path)
from bench.report import Section, percentile

if TYPE_CHECKING:
    from devstack.stack import Stack

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@contextmanager
def intake_stack(rate_limit: int) -> Iterator[Stack]:
    """The local stack on free ports, as the cloud runs the intake (a 5 s batch window)."""
    from devstack.layout import StackLayout, free_base_port
    from devstack.stack import Stack, StackOptions

    data_dir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    options = StackOptions(
        layout=StackLayout(base_port=free_base_port(data_dir), data_dir=data_dir),
        rate_limit=rate_limit,
        publish_interval=3600.0,
        tether_services=True,
    )
    out = (data_dir / "stack.out").open("w")
    stack = Stack(options, stream=out)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        stack.hub.close()
        out.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


ENV = {
    "FORM_RATE_LIMIT_PER_MINUTE": "0",  # one client sends every visitor's post
    "INTAKE_BATCH_WINDOW_SECONDS": "5",
    "FORM_INTAKE": "queue",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Traffic:
    """What was sent and how each sender was answered."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    names: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, started: float, response: httpx.Response | None) -> None:
        with self.lock:
            self.names.append(name)
            self.seconds.append(time.perf_counter() - started)
            self.statuses[0 if response is None else response.status_code] += 1

    @property
    def answered_ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 400)


def _fields(run: str, kind: str, index: int) -> dict[str, str]:
    return {
        "name": f"Intake {run} {kind} {index}",
        "email": f"intake.{run}.{kind}.{index}@example.com",
        "message": f"Message {index} via {kind}.",
    }


def _signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time() * 1000))
    signature = hmac.new(
        secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "x-webflow-timestamp": timestamp,
        "x-webflow-signature": signature,
    }


def send_traffic(stack: Stack, *, forms: int, webhooks: int, seconds: float) -> Traffic:
    """Send the posts and webhooks evenly spread over `seconds`, each once, concurrently."""
    url = stack.layout.url("create-items") + "/"
    secret = stack.webhook["secretKey"]
    site_id = stack.info["site"]["id"]
    traffic = Traffic()
    calls: list[Callable[[httpx.Client], None]] = []

    def form(index: int) -> Callable[[httpx.Client], None]:
        def call(client: httpx.Client) -> None:
            fields = _fields(traffic.run, "form", index)
            started = time.perf_counter()
            response = _post(client, url, data=fields, headers={"Accept": "application/json"})
            traffic.record(fields["name"], started, response)

        return call

    def webhook(index: int) -> Callable[[httpx.Client], None]:
        def call(client: httpx.Client) -> None:
            fields = _fields(traffic.run, "webhook", index)
            payload = {
                "triggerType": "form_submission",
                "payload": {
                    "id": f"{traffic.run}{index:06d}",
                    "name": "Contact",
                    "siteId": site_id,
                    "data": {k.capitalize(): v for k, v in fields.items()},
                    "submittedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                },
            }
            body, headers = _signed(secret, payload)
            started = time.perf_counter()
            response = _post(client, url, content=body, headers=headers)
            traffic.record(fields["name"], started, response)

        return call

    calls += [form(i) for i in range(forms)]
    calls += [webhook(i) for i in range(webhooks)]
    # Interleave the two kinds, as they would arrive.
    random.Random(traffic.run).shuffle(calls)
    interval = seconds / max(1, len(calls))
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120.0)
        return local.client  # type: ignore[no-any-return]  # set just above

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = []
        for number, call in enumerate(calls):
            time.sleep(max(0.0, started + number * interval - time.perf_counter()))
            futures.append(pool.submit(_with_client, call, client))
        for future in futures:
            future.result()
    return traffic


def _with_client(call: Callable[[httpx.Client], None], client: Callable[[], httpx.Client]) -> None:
    call(client())


def _post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return client.post(url, **kwargs)
    except httpx.HTTPError:
        return None


def intake_counts(stack: Stack) -> dict[str, int]:
    response = httpx.get(
        stack.layout.url("drain-intake") + "/",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    counts: dict[str, int] = response.json()
    return counts


def wait_written(stack: Stack, expected: int, timeout: float) -> float | None:
    """Seconds until the queue holds nothing pending and `expected` submissions are done; None
    when that never came (one in the failed set is not done: it waits for a person)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counts = intake_counts(stack)
        if counts["queued"] == 0 and counts["done"] >= expected:
            return time.monotonic() - started
        if counts["queued"] == 0 and counts["done"] + counts["failed"] >= expected:
            return None
        time.sleep(0.25)
    return None


def audit(stack: Stack, traffic: Traffic) -> dict[str, Any]:
    """Lost and duplicated items: the collection read with the read-only token."""
    collection = stack.info["collections"]["submissions"]
    found: Counter[str] = Counter()
    with httpx.Client(
        base_url=stack.info["apiBaseUrl"],
        headers={"Authorization": f"Bearer {stack.info['tokens']['readOnly']}"},
        timeout=30,
    ) as reader:
        offset = 0
        while True:
            page = reader.get(
                f"/collections/{collection}/items", params={"limit": 100, "offset": offset}
            )
            if page.status_code == 429:
                time.sleep(float(page.headers.get("Retry-After", "1")))
                continue
            page.raise_for_status()
            items = page.json()["items"]
            found.update(item["fieldData"].get("name", "") for item in items)
            offset += len(items)
            if not items:
                break
    sent = set(traffic.names)
    return {
        "lost": sum(1 for name in sent if found[name] == 0),
        "duplicated": sum(1 for name in sent if found[name] > 1),
        "items": sum(found[name] for name in sent),
    }


def sandbox_stats(stack: Stack) -> dict[str, Any]:
    response = httpx.get(f"{stack.layout.url('sandbox')}/_sandbox/stats", timeout=10)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def creates_between(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Item-create requests the sandbox answered between two statistics snapshots."""
    old, new = before.get("byRoute") or {}, after.get("byRoute") or {}
    return sum(
        count - old.get(route, 0)
        for route, count in new.items()
        if route.startswith("POST ") and route.rstrip("/").endswith("/items")
    )


def configure_faults(stack: Stack, faults: dict[str, float]) -> None:
    httpx.post(
        f"{stack.layout.url('sandbox')}/_sandbox/config", json={"faults": faults}, timeout=10
    ).raise_for_status()


def _answers(traffic: Traffic) -> list[Any]:
    """Sent, answered 2xx/3xx, answer time p50 and p99 in ms."""
    ms = [s * 1000 for s in traffic.seconds]
    return [
        len(traffic.names),
        traffic.answered_ok,
        round(percentile(ms, 0.5), 1),
        round(percentile(ms, 0.99), 1),
    ]


def run_burst(
    *, forms: int = 1000, webhooks: int = 200, seconds: float = 60.0, rate_limit: int = 60
) -> Section:
    """The burst: answers, time to written, Webflow creates, lost and duplicated."""
    with intake_stack(rate_limit) as stack:
        intake_counts(stack)  # drain-intake is up
        before = sandbox_stats(stack)
        traffic = send_traffic(stack, forms=forms, webhooks=webhooks, seconds=seconds)
        written = wait_written(stack, len(traffic.names), timeout=600)
        after = sandbox_stats(stack)
        found = audit(stack, traffic)
    creates = creates_between(before, after)
    section = Section(
        key="burst",
        title=(
            f"Intake burst: {forms:,} form posts and {webhooks:,} webhooks in {seconds:g} s "
            f"at R = {rate_limit}"
        ),
        columns=[
            "sent",
            "answered 2xx",
            "answer p50 ms",
            "answer p99 ms",
            "s after the burst until all in the CMS",
            "Webflow create requests",
            "lost",
            "duplicated",
        ],
    )
    section.rows.append(
        [
            *_answers(traffic),
            None if written is None else round(written, 1),
            creates,
            found["lost"],
            found["duplicated"],
        ]
    )
    section.notes.append(
        "Answers never wait for Webflow: each submission is checked and written to Cloud Storage "
        "(fake-gcs-server), then answered; drain-intake writes up to 100 items per request."
    )
    section.data = {
        "forms": forms,
        "webhooks": webhooks,
        "seconds": seconds,
        "rateLimit": rate_limit,
        "statuses": dict(traffic.statuses),
        "secondsUntilWritten": written,
        "webflowCreateRequests": creates,
        "webflowRequests": after.get("total", 0) - before.get("total", 0),
        **found,
    }
    return section


ARRIVALS = ("start", "spread")


def run_outage(
    *,
    forms: int = 300,
    webhooks: int = 60,
    outage_seconds: float = 300.0,
    rate_limit: int = 60,
    arrivals: tuple[str, ...] = ARRIVALS,
) -> Section:
    """Webflow answers 500 to everything while the traffic arrives, then recovers; one row per
    arrival shape, each on a stack of its own:

    - ``start``: every submission in a closed-loop burst as the outage begins, so that the
      drains spend their retries (and their look-ups of lost answers) through all of it;
    - ``spread``: the submissions spread over the outage, each drain meeting a few.

    Nothing is replayed: what the queue writes after recovery it writes by itself.
    """
    section = Section(
        key="outage",
        title=(
            f"Intake through a Webflow outage: every call a 500 for {outage_seconds:g} s while "
            f"{forms:,} form posts and {webhooks:,} webhooks arrive, R = {rate_limit}"
        ),
        columns=[
            "arrival",
            "sent",
            "answered 2xx",
            "answer p50 ms",
            "answer p99 ms",
            "queued at recovery",
            "s after recovery until all in the CMS",
            "in the failed set",
            "lost",
            "duplicated",
        ],
    )
    runs: dict[str, Any] = {}
    for arrival in arrivals:
        row, data = _outage_run(forms, webhooks, outage_seconds, rate_limit, arrival)
        section.rows.append(row)
        runs[arrival] = data
    section.notes.append(
        "start: every post and webhook sent as the outage begins (32 at a time), so drains retry "
        "through the whole outage; spread: sent evenly over it. No replay in either: the failed "
        "set stays empty and the queue writes everything once Webflow answers again."
    )
    section.data = {
        "forms": forms,
        "webhooks": webhooks,
        "outageSeconds": outage_seconds,
        "rateLimit": rate_limit,
        "runs": runs,
    }
    return section


def _outage_run(
    forms: int, webhooks: int, outage_seconds: float, rate_limit: int, arrival: str
) -> tuple[list[Any], dict[str, Any]]:
    """One outage on a fresh stack: its row and its figures."""
    with intake_stack(rate_limit) as stack:
        intake_counts(stack)
        configure_faults(stack, {"errorRate": 1.0})
        outage_started = time.monotonic()
        spread = max(1.0, outage_seconds - 5) if arrival == "spread" else 0.0
        traffic = send_traffic(stack, forms=forms, webhooks=webhooks, seconds=spread)
        time.sleep(max(0.0, outage_seconds - (time.monotonic() - outage_started)))
        pending_at_recovery = intake_counts(stack)["queued"]
        configure_faults(stack, {"errorRate": 0.0})
        written = wait_written(stack, len(traffic.names), timeout=600)
        failed = intake_counts(stack)["failed"]
        found = audit(stack, traffic)
    row = [
        arrival,
        *_answers(traffic),
        pending_at_recovery,
        None if written is None else round(written, 1),
        failed,
        found["lost"],
        found["duplicated"],
    ]
    data = {
        "statuses": dict(traffic.statuses),
        "queuedAtRecovery": pending_at_recovery,
        "secondsAfterRecovery": written,
        "failedSet": failed,
        **found,
    }
    return row, data
