"""`python -m devstack demo`: a scripted scenario against the running local stack.

Each step acts through the front doors a user has (the functions, the sandbox's form-submit call, the
bucket) and then waits, within a bound, for its effect to show in the sandbox, read with the read-only
token so that the checks do not eat the functions' rate limit.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import httpx

__all__ = ["Demo", "StepFailed", "make_png"]

T = TypeVar("T")
BULK_ITEMS = 250


class StepFailed(Exception):
    """A step of the scenario did not reach its effect."""


def make_png(width: int, height: int, seed: str) -> bytes:
    """A small RGB gradient PNG, different for every seed (so each run uploads new bytes): the
    seed's digest is in the first pixels, since upload-asset strips text chunks (metadata)."""
    salt = zlib.crc32(seed.encode())
    mark = hashlib.sha256(seed.encode()).digest()
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(
                ((x * 255 // width) ^ (salt & 0xFF), (y * 255 // height), (salt >> 8) & 0xFF)
            )
    rows[1 : 1 + min(len(mark), width * 3)] = mark[: width * 3]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float


class Demo:
    """The scenario: bulk JSON create, form with image, webhook, gallery drop, publish."""

    def __init__(
        self, state: dict[str, Any], out: TextIO, *, timeout: float = 90.0, poll: float = 1.0
    ):
        self.state = state
        self.out = out
        self.timeout = timeout
        self.poll = poll
        self.tag = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        services = state["services"]
        sandbox = state["sandbox"]
        self.collections: dict[str, str] = sandbox["collections"]
        self.create_items_url = services["create-items"]["url"] + "/"
        self.publish_url = services["publish-live"]["url"] + "/"
        self.gcs_url = services["gcs"]["url"]
        self.control_url = sandbox["controlUrl"]
        self.http = httpx.Client(timeout=120.0)
        self.reader = httpx.Client(
            base_url=sandbox["apiBaseUrl"],
            headers={"Authorization": f"Bearer {sandbox['tokens']['readOnly']}"},
            timeout=30.0,
        )
        self.key_header = {"Authorization": f"Bearer {state['apiKey']}"}
        self.published_ids: dict[str, set[str]] = {name: set() for name in self.collections}

    # -- helpers ------------------------------------------------------------------------------

    def wait_for(self, what: str, probe: Callable[[], T | None]) -> T:
        """Call `probe` until it returns something, or fail after the timeout naming `what`."""
        deadline = time.monotonic() + self.timeout
        last_error = ""
        while True:
            try:
                found = probe()
                if found is not None:
                    return found
            except httpx.HTTPError as exc:
                last_error = f" (last error: {exc})"
            if time.monotonic() > deadline:
                raise StepFailed(f"no {what} after {self.timeout:.0f}s{last_error}")
            time.sleep(self.poll)

    def read(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.reader.get(path, params=params)
        if response.status_code == 429:  # shared with the live view: wait and let the probe retry
            time.sleep(float(response.headers.get("Retry-After") or 1))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def post_form(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST a form; create-items' per-client form limit (429) is waited out once, if in time."""
        response = self.http.post(url, **kwargs)
        if response.status_code == 429:
            try:
                wait = float(response.headers.get("Retry-After", ""))
            except ValueError:
                return response
            if 0 <= wait <= self.timeout:
                self.out.write(f"      form posts rate limited: retrying in {wait:.0f}s\n")
                self.out.flush()
                time.sleep(wait)
                response = self.http.post(url, **kwargs)
        return response

    def items_named(self, collection: str, name: str) -> list[dict[str, Any]]:
        """Staged items of a collection with exactly this name."""
        items: list[dict[str, Any]] = self.read(
            f"/collections/{self.collections[collection]}/items", name=name
        )["items"]
        return items

    def newest_items(self, collection: str, limit: int = 50) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.read(
            f"/collections/{self.collections[collection]}/items",
            limit=limit,
            sortBy="createdOn",
            sortOrder="desc",
        )["items"]
        return items

    def live_ids(self, collection: str) -> set[str]:
        """Ids of every live item of a collection (all pages)."""
        ids: set[str] = set()
        offset = 0
        while True:
            page = self.read(
                f"/collections/{self.collections[collection]}/items/live", offset=offset, limit=100
            )
            ids.update(item["id"] for item in page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["pagination"]["total"]:
                return ids

    def wait_for_submission(self, name: str) -> dict[str, Any]:
        """The submission item of this name, once it shows; the publish step checks it goes live."""
        item = self.wait_for(
            f"submission item named {name!r}",
            lambda: next(iter(self.items_named("submissions", name)), None),
        )
        self.published_ids["submissions"].add(item["id"])
        return item

    @staticmethod
    def results_of(body: Any) -> list[dict[str, Any]]:
        """The per-item results list of a create-items answer."""
        if isinstance(body, dict):
            for key in ("results", "items"):
                results = body.get(key)
                if isinstance(results, list):
                    return results
        raise StepFailed(f"create-items answered without per-item results: {str(body)[:300]}")

    def attached_image(self, item: dict[str, Any], field: str) -> str | None:
        value = (item.get("fieldData") or {}).get(field)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict) and value.get("url") and value.get("fileId"):
            return f"asset {value['fileId']} at {value['url']}"
        return None

    # -- the steps ----------------------------------------------------------------------------

    def bulk_create(self) -> str:
        """A JSON call creating 250 posts."""
        items = [
            {
                "fieldData": {
                    "name": f"Demo post {self.tag} #{index:03d}",
                    "summary": f"Item {index} of a bulk create made by the demo at {self.tag}.",
                },
                "isDraft": False,
            }
            for index in range(BULK_ITEMS)
        ]
        body = {"collectionId": self.collections["posts"], "items": items}
        response = self.http.post(self.create_items_url, json=body, headers=self.key_header)
        if not response.is_success:
            raise StepFailed(f"HTTP {response.status_code}: {response.text[:300]}")
        results = self.results_of(response.json())
        statuses = dict(Counter(result.get("status", "?") for result in results))
        ok = statuses.get("created", 0) + statuses.get("existing", 0)
        if len(results) != BULK_ITEMS or ok != BULK_ITEMS:
            raise StepFailed(f"{len(results)} results, statuses {statuses}")
        ids = [result["id"] for result in results]
        self.published_ids["posts"].update(ids)
        for item_id in (ids[0], ids[-1]):
            self.read(f"/collections/{self.collections['posts']}/items/{item_id}")
        return (
            f"{statuses} (HTTP {response.status_code}); first and last read back from the sandbox"
        )

    def form_with_image(self) -> str:
        """A multipart form post with an image, as the demo site's form sends it."""
        name = f"Form with photo {self.tag}"
        png = make_png(96, 64, f"form-{self.tag}")
        response = self.post_form(
            self.create_items_url,
            data={"name": name, "email": "ada@example.com", "message": "Sent by make demo."},
            files={"attachment": (f"form-photo-{self.tag}.png", png, "image/png")},
            headers={"Accept": "application/json"},
        )
        if not response.is_success:
            raise StepFailed(f"HTTP {response.status_code}: {response.text[:300]}")
        item = self.wait_for_submission(name)

        def attached() -> str | None:
            current = self.read(
                f"/collections/{self.collections['submissions']}/items/{item['id']}"
            )
            return self.attached_image(current, "attachment")

        image = self.wait_for("image attached to the submission", attached)
        return f"item {item['id']} created, {image}"

    def webhook_submission(self) -> str:
        """A Webflow form submission: the sandbox delivers its signed webhook to create-items."""
        name = f"Webhook submission {self.tag}"
        form = self.state.get("webflowFormName", "Contact")
        response = self.http.post(
            f"{self.control_url}/forms/{form}/submit",
            json={
                "name": name,
                "email": "bo@example.com",
                "message": "Submitted on the Webflow site.",
            },
        )
        if not response.is_success:
            raise StepFailed(f"form submit: HTTP {response.status_code}: {response.text[:300]}")
        item = self.wait_for_submission(name)
        return f"item {item['id']} created from the webhook"

    def gallery_drop(self) -> str:
        """A photo written to the bucket's gallery prefix becomes a gallery item with its image."""
        object_name = f"{self.state['galleryPrefix']}demo-photo-{self.tag}.png"
        response = self.http.post(
            f"{self.gcs_url}/upload/storage/v1/b/{self.state['bucket']}/o",
            params={"uploadType": "media", "name": object_name},
            content=make_png(120, 80, f"gallery-{self.tag}"),
            headers={"Content-Type": "image/png"},
        )
        if not response.is_success:
            raise StepFailed(
                f"upload to fake-gcs-server: HTTP {response.status_code}: {response.text[:300]}"
            )
        wanted = _compact(self.tag)

        def gallery_item() -> dict[str, Any] | None:
            for item in self.newest_items("gallery"):
                fields = item.get("fieldData") or {}
                text = _compact(f"{fields.get('name', '')} {fields.get('slug', '')}")
                if wanted in text and self.attached_image(item, "image"):
                    return item
            return None

        item = self.wait_for(f"gallery item for {object_name}", gallery_item)
        self.published_ids["gallery"].add(item["id"])
        return f"gallery item {item['id']} ({item['fieldData'].get('name')}) with {self.attached_image(item, 'image')}"

    def publish(self) -> str:
        """A publish-live run; then every item made above must be live."""
        wanted = {name: ids for name, ids in self.published_ids.items() if ids}
        if not wanted:
            raise StepFailed("no item from the earlier steps to check")
        runs: list[str] = []

        def run_publish() -> dict[str, Any]:
            response = self.http.post(
                self.publish_url, json={"pending": True}, headers=self.key_header
            )
            if not response.is_success:
                raise StepFailed(
                    f"publish-live: HTTP {response.status_code}: {response.text[:300]}"
                )
            body: dict[str, Any] = response.json()
            runs.append(
                f"published {len(body.get('published') or [])}, remaining {body.get('remaining')}"
            )
            return body

        run_publish()

        def all_live() -> bool | None:
            missing = {name: ids - self.live_ids(name) for name, ids in wanted.items()}
            if not any(missing.values()):
                return True
            run_publish()  # what is left (a rate limit stops a run early, by design)
            return None

        self.wait_for("publication of every demo item", all_live)
        total = sum(len(ids) for ids in wanted.values())
        return f"{total} demo items live; runs: {'; '.join(runs)}"

    # -- running ------------------------------------------------------------------------------

    def steps(self) -> Iterable[tuple[str, Callable[[], str]]]:
        yield f"JSON bulk create of {BULK_ITEMS} items", self.bulk_create
        yield "form post with an image", self.form_with_image
        yield "Webflow form submission through the webhook", self.webhook_submission
        yield "photo dropped into the gallery prefix", self.gallery_drop
        yield "publish run", self.publish

    def run(self) -> int:
        """Run every step, print each result; return 0 when all passed, 1 otherwise."""
        results: list[StepResult] = []
        steps = list(self.steps())
        self.out.write(f"Demo {self.tag} against {self.create_items_url} and friends\n")
        for number, (name, step) in enumerate(steps, start=1):
            self.out.write(f"[{number}/{len(steps)}] {name} ... ")
            self.out.flush()
            started = time.monotonic()
            try:
                detail, ok = step(), True
            except (StepFailed, httpx.HTTPError, KeyError, ValueError) as exc:
                detail, ok = f"{type(exc).__name__}: {exc}", False
            result = StepResult(name, ok, detail, time.monotonic() - started)
            results.append(result)
            self.out.write(f"{'ok' if ok else 'FAILED'} in {result.seconds:.1f}s\n      {detail}\n")
            self.out.flush()
        passed = sum(result.ok for result in results)
        self.out.write(f"demo finished: {passed} of {len(results)} steps passed\n")
        self.http.close()
        self.reader.close()
        return 0 if passed == len(results) else 1
