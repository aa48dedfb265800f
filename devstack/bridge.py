"""The local stand-in for Eventarc: Cloud Storage `finalized` events from fake-gcs-server to upload-asset.

fake-gcs-server can only publish events to Pub/Sub, so the bridge polls the bucket's object listing
through the JSON API and, for every object generation it has not delivered yet, POSTs a
`google.cloud.storage.object.v1.finalized` CloudEvent shaped as Eventarc delivers it (binary content
mode: `ce-*` headers, the object resource as JSON body). Delivery is at least once: a non-2xx answer or
a connection error is retried with capped exponential backoff, and delivered finalizations are persisted
so that a restart does not deliver the whole bucket again.

What counts as a new finalization: Cloud Storage gives every upload a new generation and leaves it alone
on metadata updates, but fake-gcs-server mints a new generation on every metadata patch too (upload-asset
patches its ledger into the object's metadata). Its `timeCreated`, though, changes only with new bytes, so
the bridge keys finalizations on (name, timeCreated) and sends the generation current at that time.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from devstack.procs import ServiceLog

__all__ = ["FINALIZED", "StorageBridge", "build_event", "event_id"]

FINALIZED = "google.cloud.storage.object.v1.finalized"
Mode = Literal["binary", "structured"]


def event_id(bucket: str, name: str, generation: str | int) -> str:
    """A stable numeric event id per object generation, so that a redelivery carries the same id."""
    digest = hashlib.sha256(f"{bucket}/{name}#{generation}".encode()).hexdigest()
    return str(int(digest[:15], 16))


def build_event(obj: dict[str, Any], *, mode: Mode = "binary") -> tuple[dict[str, str], bytes]:
    """Return the HTTP headers and body Eventarc would POST for this object's finalization.

    Args:
        obj: the object resource as the Cloud Storage JSON API returns it (name, bucket, generation...).
        mode: CloudEvents HTTP content mode, "binary" (attributes in ce-* headers) or "structured".
    """
    bucket, name, generation = obj["bucket"], obj["name"], obj["generation"]
    attributes = {
        "specversion": "1.0",
        "id": event_id(bucket, name, generation),
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "type": FINALIZED,
        "subject": f"objects/{name}",
        "time": obj.get("timeCreated") or obj.get("updated") or _now_rfc3339(),
        "bucket": bucket,  # Eventarc's extension attribute, the one its triggers filter on
    }
    if mode == "structured":
        envelope = {**attributes, "datacontenttype": "application/json", "data": obj}
        return {"content-type": "application/cloudevents+json"}, json.dumps(envelope).encode()
    headers = {f"ce-{key}": value for key, value in attributes.items()}
    headers["content-type"] = "application/json"
    return headers, json.dumps(obj).encode()


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Pending:
    obj: dict[str, Any]
    attempts: int = 0
    due: float = 0.0
    in_flight: bool = False
    last_error: str = ""

    @property
    def label(self) -> str:
        return f"gs://{self.obj['bucket']}/{self.obj['name']}#{self.obj['generation']}"


@dataclass
class BridgeStats:
    """Counters, for the logs and the tests."""

    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0


class StorageBridge:
    """Polls one bucket of fake-gcs-server and delivers finalized events to one CloudEvent endpoint."""

    def __init__(
        self,
        *,
        gcs_url: str,
        bucket: str,
        target_url: str,
        state_path: Path,
        log: ServiceLog,
        poll_interval: float = 1.0,
        max_attempts: int = 8,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        delivery_timeout: float = 120.0,
        workers: int = 4,
        mode: Mode = "binary",
        rand: Callable[[], float] = random.random,
    ):
        self.gcs_url = gcs_url.rstrip("/")
        self.bucket = bucket
        self.target_url = target_url
        self.state_path = state_path
        self.log = log
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.mode: Mode = mode
        self.stats = BridgeStats()
        self._rand = rand
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}
        # name -> timeCreated of the last finalization delivered (or given up on)
        self._delivered: dict[str, str] = self._load_state()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bridge-delivery")
        self._gcs = httpx.Client(timeout=10.0)
        self._http = httpx.Client(timeout=httpx.Timeout(delivery_timeout, connect=5.0))

    # -- state -------------------------------------------------------------------------------

    def _load_state(self) -> dict[str, str]:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if state.get("bucket") != self.bucket or not isinstance(state.get("delivered"), dict):
            return {}
        return {str(name): str(created) for name, created in state["delivered"].items()}

    def _save_state(self) -> None:
        # Called with the lock held; atomic replace so that a crash leaves the old file whole.
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"bucket": self.bucket, "delivered": self._delivered}))
        os.replace(tmp, self.state_path)

    # -- polling ------------------------------------------------------------------------------

    def list_objects(self) -> Iterator[dict[str, Any]]:
        """Yield every object resource of the bucket, following pagination."""
        url = f"{self.gcs_url}/storage/v1/b/{self.bucket}/o"
        params: dict[str, str] = {"maxResults": "1000"}
        while True:
            response = self._gcs.get(url, params=params)
            response.raise_for_status()
            page = response.json()
            yield from page.get("items", [])
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    @staticmethod
    def finalization(obj: dict[str, Any]) -> tuple[str, str]:
        """The identity of the upload an object listing entry comes from: (name, timeCreated)."""
        return obj["name"], str(obj.get("timeCreated") or obj["generation"])

    def discover(self) -> int:
        """List the bucket and queue every finalization not delivered yet; return how many were new."""
        new = 0
        for obj in self.list_objects():
            key = self.finalization(obj)
            with self._lock:
                if self._delivered.get(key[0]) == key[1] or key in self._pending:
                    continue
                self._pending[key] = _Pending(obj)
            new += 1
        return new

    def dispatch(self) -> None:
        """Hand every due, idle delivery to the worker pool."""
        now = time.monotonic()
        with self._lock:
            due = [p for p in self._pending.values() if not p.in_flight and p.due <= now]
            for pending in due:
                pending.in_flight = True
        for pending in due:
            self._pool.submit(self._attempt, pending)

    def _attempt(self, pending: _Pending) -> None:
        pending.attempts += 1
        error = self.deliver(pending.obj)
        key = self.finalization(pending.obj)
        with self._lock:
            pending.in_flight = False
            if error is None:
                self._pending.pop(key, None)
                self._remember(key)
                self.stats.delivered += 1
                self.log.info(f"delivered {pending.label} (attempt {pending.attempts})")
                return
            self.stats.failed_attempts += 1
            pending.last_error = error
            if pending.attempts >= self.max_attempts:
                self._pending.pop(key, None)
                self._remember(key)
                self.stats.given_up += 1
                self.log.info(
                    f"giving up on {pending.label} after {pending.attempts} attempts: {error}"
                )
                return
            delay = self.backoff(pending.attempts)
            pending.due = time.monotonic() + delay
            self.log.info(
                f"delivery of {pending.label} failed (attempt {pending.attempts}): {error}; "
                f"retrying in {delay:.1f}s"
            )

    def _remember(self, key: tuple[str, str]) -> None:
        name, created = key
        # RFC 3339 UTC times of one emulator sort as text; an older upload's late success changes nothing.
        if self._delivered.get(name, "") < created:
            self._delivered[name] = created
            self._save_state()

    def backoff(self, attempts: int) -> float:
        """Capped exponential backoff with jitter (between half and all of the step)."""
        step = min(self.max_backoff, self.initial_backoff * 2 ** (attempts - 1))
        return float(step * (0.5 + self._rand() / 2))

    def deliver(self, obj: dict[str, Any]) -> str | None:
        """POST one event; return None on a 2xx acknowledgement, else the reason it failed."""
        headers, body = build_event(obj, mode=self.mode)
        try:
            response = self._http.post(self.target_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code} {response.text[:200]!r}"

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        """Start polling in a background thread."""
        self._thread = threading.Thread(target=self._run, name="storage-bridge", daemon=True)
        self._thread.start()
        self.log.info(
            f"watching gs://{self.bucket} on {self.gcs_url}, delivering {FINALIZED} "
            f"to {self.target_url}"
        )

    def _run(self) -> None:
        listing_failed = False
        while not self._stop.is_set():
            try:
                self.discover()
                if listing_failed:
                    self.log.info("bucket listing works again")
                listing_failed = False
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                if not listing_failed:
                    self.log.info(f"cannot list gs://{self.bucket}: {exc}; will keep trying")
                listing_failed = True
            self.dispatch()
            self._stop.wait(self.poll_interval)

    def stop(self) -> None:
        """Stop polling and wait for deliveries in flight (undelivered ones are found again next run)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._gcs.close()
        self._http.close()
