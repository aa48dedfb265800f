"""`python -m bench.soak`: the local stack under the sandbox's faults, then an audit of what it holds.

The whole local stack (devstack: sandbox, fake-gcs-server, the functions, the Eventarc bridges and
the schedulers) runs on free loopback ports with the sandbox's faults on: 10% of API requests
fail with a 500 without being applied, 5% meet a spurious 429, and 5% are applied and then answered
with a dropped connection. Into it go mixed submissions (JSON calls, browser form posts, Webflow form
webhooks through the sandbox's form-submit call, some of them delivered twice; form posts and webhooks
go through the intake queue and drain-intake, as deployed) and image uploads into
the bucket (gallery drops, files named after an item, form file inputs), with some storage events
delivered twice. Callers behave as real ones do: a 5xx or a dropped connection is retried with the
same content. Then the faults go off, the stack is left to settle, and the audit compares what was
sent with what the sandbox holds: 0 lost, 0 duplicated items, 0 duplicated assets, every image
attached. It prints the counts and exits 1 otherwise (2 when the run could not complete in time).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench import _procs  # noqa: F401  (puts the repository root on sys.path)
from bench.report import RESULTS_DIR, Section, machine, write
from bench.soak_audit import audit, list_all
from bench.soak_callers import (
    Ledger,
    deliver_webhook,
    form_post,
    json_batch,
    png_image,
    send_with_retries,
    submission_fields,
)

if TYPE_CHECKING:
    from devstack.stack import Stack

FAULTS = {"errorRate": 0.1, "rateLimitRate": 0.05, "dropAfterWriteRate": 0.05}
NO_FAULTS = {"errorRate": 0.0, "rateLimitRate": 0.0, "dropAfterWriteRate": 0.0}


# --- inputs -------------------------------------------------------------------------------------


@dataclass
class Plan:
    """How many of each kind of input one soak sends."""

    json_items: int = 300
    json_batch: int = 10
    form_posts: int = 300
    form_files: int = 25
    webhooks: int = 400
    webhook_redeliveries: int = 60
    gallery_images: int = 50
    path_images: int = 25
    event_redeliveries: int = 30

    @property
    def submissions(self) -> int:
        return self.json_items + self.form_posts + self.webhooks

    @property
    def images(self) -> int:
        return self.form_files + self.gallery_images + self.path_images

    @classmethod
    def scaled(cls, submissions: int, images: int) -> Plan:
        """The default mix, scaled to `submissions` submissions and `images` images."""
        base = cls()
        ratio = submissions / base.submissions
        image_ratio = images / base.images
        form_files = max(1, round(base.form_files * image_ratio)) if images else 0
        gallery = max(0, round(base.gallery_images * image_ratio))
        path_images = max(0, images - form_files - gallery)
        json_items = max(1, round(base.json_items * ratio))
        form_posts = max(form_files, round(base.form_posts * ratio))
        webhooks = max(1, submissions - json_items - form_posts)
        return cls(
            json_items=json_items,
            json_batch=max(1, min(base.json_batch, json_items)),
            form_posts=form_posts,
            form_files=form_files,
            webhooks=webhooks,
            webhook_redeliveries=max(1, round(base.webhook_redeliveries * ratio)),
            gallery_images=gallery,
            path_images=min(path_images, json_items),
            event_redeliveries=max(1, round(base.event_redeliveries * image_ratio))
            if images
            else 0,
        )


# --- callers that retry as real ones do -----------------------------------------------------------


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Soak:
    """One soak against one local stack."""

    stack: Stack
    plan: Plan
    deadline: float
    rng: random.Random
    ledger: Ledger
    workers: int = 8

    @property
    def control(self) -> str:
        return f"{self.stack.layout.url('sandbox')}/_sandbox"

    @property
    def create_url(self) -> str:
        return self.stack.layout.url("create-items") + "/"

    @property
    def gcs_url(self) -> str:
        return self.stack.layout.url("gcs")

    @property
    def bucket(self) -> str:
        return self.stack.options.bucket

    def configure_faults(self, faults: dict[str, float], seed: int | None = None) -> None:
        body: dict[str, Any] = {"faults": dict(faults)}
        if seed is not None:
            body["faults"]["seed"] = seed
        httpx.post(f"{self.control}/config", json=body, timeout=10).raise_for_status()

    def upload_object(self, name: str, data: bytes) -> dict[str, Any]:
        response = httpx.post(
            f"{self.gcs_url}/upload/storage/v1/b/{self.bucket}/o",
            params={"uploadType": "media", "name": name},
            content=data,
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
        response.raise_for_status()
        uploaded: dict[str, Any] = response.json()
        return uploaded

    def redeliver_event(self, obj: dict[str, Any], client: httpx.Client) -> None:
        """Deliver the object's finalized event once more, as Eventarc may."""
        from devstack.bridge import build_event

        headers, body = build_event(obj)
        response = send_with_retries(
            self.ledger,
            "eventRedelivery",
            lambda: client.post(
                self.stack.layout.url("upload-asset") + "/", content=body, headers=headers
            ),
        )
        self.ledger.count(
            f"eventRedelivery.final{None if response is None else response.status_code}"
        )

    # -- sending ---------------------------------------------------------------------------

    def send_all(self, until: float) -> bool:
        """Send every submission and image; False when `until` came first."""
        plan, ledger, run = self.plan, self.ledger, self.ledger.run
        api_key = self.stack.api_key
        secret = self.stack.webhook["secretKey"]
        form_name = self.stack.options.webflow_form_name
        tasks: list[Callable[[], None]] = []
        json_client = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=120)
        plain = httpx.Client(timeout=120)
        try:
            json_fields = [submission_fields(run, "json", i) for i in range(plan.json_items)]
            for fields in json_fields:
                ledger.names[fields["name"]] = "json"
            batches = [
                json_fields[i : i + plan.json_batch]
                for i in range(0, len(json_fields), plan.json_batch)
            ]
            tasks += [
                functools.partial(json_batch, ledger, json_client, self.create_url, b)
                for b in batches
            ]

            for i in range(plan.form_posts):
                fields = submission_fields(run, "form", i)
                ledger.names[fields["name"]] = "form"
                image = None
                if i < plan.form_files:
                    image = png_image(self.rng)
                    ledger.image_md5[hashlib.md5(image).hexdigest()] = f"form:{fields['name']}"
                tasks.append(
                    functools.partial(form_post, ledger, plain, self.create_url, fields, i, image)
                )

            redeliver = set(
                self.rng.sample(range(plan.webhooks), min(plan.webhook_redeliveries, plan.webhooks))
            )
            for i in range(plan.webhooks):
                fields = submission_fields(run, "webhook", i)
                ledger.names[fields["name"]] = "webhook"
                tasks.append(
                    functools.partial(
                        self.webhook, plain, form_name, secret, fields, i in redeliver
                    )
                )

            for i in range(plan.gallery_images):
                tasks.append(functools.partial(self.gallery_drop, plain, i))

            self.rng.shuffle(tasks)
            if not self.run_tasks(tasks, until):
                return False
            # Files named after items: once those items exist (their slugs come from the JSON answers).
            named = [
                name
                for name in ledger.names
                if ledger.names[name] == "json" and name in ledger.slugs
            ]
            drops: list[Callable[[], None]] = [
                functools.partial(self.path_drop, plain, name, i)
                for i, name in enumerate(named[: plan.path_images])
            ]
            return self.run_tasks(drops, until)
        finally:
            json_client.close()
            plain.close()

    def send_in_outage(self, count: int, until: float) -> bool:
        """``count`` form posts and webhooks (half each) at once, as visitors keep coming while
        Webflow is down; False when `until` came first."""
        ledger, run = self.ledger, self.ledger.run
        secret = self.stack.webhook["secretKey"]
        form_name = self.stack.options.webflow_form_name
        tasks: list[Callable[[], None]] = []
        plain = httpx.Client(timeout=120)
        try:
            for i in range(count):
                kind = "form" if i % 2 == 0 else "webhook"
                fields = submission_fields(run, f"outage-{kind}", i)
                ledger.names[fields["name"]] = kind
                if kind == "form":
                    call = functools.partial(
                        form_post, ledger, plain, self.create_url, fields, 100_000 + i, None
                    )
                else:
                    call = functools.partial(
                        self.webhook, plain, form_name, secret, fields, again=False
                    )
                tasks.append(call)
            return self.run_tasks(tasks, until)
        finally:
            plain.close()

    def run_tasks(self, tasks: list[Callable[[], None]], until: float) -> bool:
        """Run the tasks on `workers` daemon threads; False when they are not all done by `until`.

        An exception in one task (a caller that gave up) is counted and the others go on.
        """
        queue = list(reversed(tasks))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    task = queue.pop()
                try:
                    task()
                except Exception as exc:  # noqa: BLE001 (counted; the audit shows what it cost)
                    self.ledger.count(f"callerErrors.{type(exc).__name__}")

        threads = [
            threading.Thread(target=worker, daemon=True, name=f"soak-{n}")
            for n in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def webhook(
        self, client: httpx.Client, form_name: str, secret: str, fields: dict[str, str], again: bool
    ) -> None:
        """A visitor submits the Webflow form; the sandbox delivers the signed webhook to create-items."""
        response = client.post(f"{self.control}/forms/{form_name}/submit", json=fields)
        response.raise_for_status()
        payload = response.json()["payload"]
        with self.ledger.lock:
            self.ledger.webhook_payloads[fields["name"]] = payload
        if again:  # Webflow redelivers the same payload (here racing the first delivery)
            time.sleep(self.rng.uniform(0, 1.5))
            status = deliver_webhook(self.ledger, client, self.create_url, secret, payload)
            self.ledger.count(f"webhookRedelivery.final{status}")

    def gallery_drop(self, client: httpx.Client, index: int) -> None:
        name = f"{self.stack.options.gallery_prefix}soak-{self.ledger.run}-g{index}.png"
        self._drop(client, name, "gallery", item_name=None)

    def path_drop(self, client: httpx.Client, item_name: str, index: int) -> None:
        slug = self.ledger.slugs[item_name]
        name = f"{self.stack.options.upload_prefix}submissions/{slug}/attachment.png"
        self._drop(client, name, "path", item_name=item_name)

    def _drop(self, client: httpx.Client, name: str, kind: str, item_name: str | None) -> None:
        image = png_image(self.rng)
        obj = self.upload_object(name, image)
        md5 = hashlib.md5(image).hexdigest()
        with self.ledger.lock:
            self.ledger.objects[name] = {"kind": kind, "md5": md5, "item": item_name}
            self.ledger.image_md5[md5] = name
            redeliver = (
                self.ledger.counters["eventRedelivery.planned"] < self.plan.event_redeliveries
                and self.rng.random() < 0.5
            )
            if redeliver:
                self.ledger.counters["eventRedelivery.planned"] += 1
        if redeliver:
            time.sleep(self.rng.uniform(0, 2.0))
            self.redeliver_event(obj, client)

    # -- settling --------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = (
            httpx.get(f"{self.control}/webhooks/deliveries", timeout=10)
            .raise_for_status()
            .json()["deliveries"]
        )
        return deliveries

    def bucket_objects(self) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, str] = {"pageToken": token} if token else {}
            body = (
                httpx.get(f"{self.gcs_url}/storage/v1/b/{self.bucket}/o", params=params, timeout=10)
                .raise_for_status()
                .json()
            )
            objects += body.get("items", [])
            token = body.get("nextPageToken")
            if not token:
                return objects

    def settled(self) -> tuple[bool, str]:
        deliveries = self.deliveries()
        busy = sum(1 for d in deliveries if not d.get("done"))
        if busy:
            return False, f"{busy} webhook deliveries in progress"
        for bridge in (self.stack.bridge, self.stack.intake_bridge):
            pending = bridge.pending_count if bridge is not None else 0
            if pending:
                return False, f"{pending} storage events pending"
        queued = self.intake_counts()["queued"]
        if queued:
            return False, f"{queued} submissions in the intake queue"
        unprocessed = [
            obj["name"]
            for obj in self.bucket_objects()
            if not {"webflow-asset-id", "webflow-error"} & set(obj.get("metadata") or {})
        ]
        if unprocessed:
            return False, f"{len(unprocessed)} objects not processed yet"
        return True, "settled"

    def intake_counts(self) -> dict[str, int]:
        """The intake queue's counts, from drain-intake."""
        response = httpx.get(
            self.stack.layout.url("drain-intake") + "/",
            headers={"Authorization": f"Bearer {self.stack.api_key}"},
            timeout=30,
        )
        response.raise_for_status()
        counts: dict[str, int] = response.json()
        return counts

    def wait_settled(self, until: float) -> str:
        state = "not checked"
        while time.monotonic() < until:
            done, state = self.settled()
            if done:
                return state
            time.sleep(1.0)
        return state


# --- the audit ----------------------------------------------------------------------------------


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=5.0, help="bound of the whole run")
    parser.add_argument(
        "--rate-limit", type=int, default=6000, help="sandbox requests/minute per token"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the faults and the mix")
    parser.add_argument("--workers", type=int, default=8, help="concurrent callers")
    parser.add_argument(
        "--outage-seconds",
        type=float,
        default=120.0,
        help="then every call a 500 for this long while more visitors come (0: no outage phase)",
    )
    parser.add_argument(
        "--outage-submissions", type=int, default=100, help="form posts and webhooks in the outage"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


@dataclass
class Outcome:
    counts: dict[str, Any]
    ok: bool
    timed_out: bool


def run_soak(args: argparse.Namespace, *, log: Callable[[str], None] = print) -> Outcome:
    from devstack.layout import StackLayout, free_base_port
    from devstack.stack import Stack, StackOptions

    started = time.monotonic()
    deadline = started + args.minutes * 60 + args.outage_seconds
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    data_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    base_port = free_base_port(data_dir, rng=rng)
    options = StackOptions(
        layout=StackLayout(base_port=base_port, data_dir=data_dir),
        rate_limit=args.rate_limit,
        publish_interval=30.0,
        tether_services=True,  # a killed soak leaves no servers behind
    )
    stack_out = (data_dir / "stack.out").open("w")
    stack = Stack(options, stream=stack_out)
    plan = Plan.scaled(args.submissions, args.images)
    ledger = Ledger(run=uuid.uuid4().hex[:6])
    timed_out = False
    try:
        log(
            f"soak: starting the local stack on 127.0.0.1:{base_port}+ (data and logs in {data_dir})"
        )
        stack.start()
        log(f"soak: stack up in {stack.elapsed:.1f}s; faults on {FAULTS} (seed {seed})")
        soak = Soak(
            stack=stack, plan=plan, deadline=deadline, rng=rng, ledger=ledger, workers=args.workers
        )
        soak.configure_faults(FAULTS, seed=seed)
        send_started = time.monotonic()
        # Leave time to settle and audit within the bound.
        sent_all = soak.send_all(until=deadline - 90)
        if not sent_all:
            log("soak: sending did not finish in time; auditing what was sent")
        sent_seconds = time.monotonic() - send_started
        log(
            f"soak: sent {plan.submissions} submissions and {len(ledger.image_md5)} images in {sent_seconds:.0f}s; settling"
        )
        # Settle under faults first (retries in flight finish as they would), then without them.
        state = soak.wait_settled(min(deadline - 30, time.monotonic() + 60))
        soak.configure_faults(NO_FAULTS)
        delivered = soak.deliveries()
        refused_deliveries = sum(1 for d in delivered if d.get("done") and not d.get("delivered"))
        ledger.counters["webhookDeliveries"] = len(delivered)
        ledger.counters["webhookDeliveriesGivenUp"] = refused_deliveries
        if refused_deliveries:
            # Webflow retries a refused delivery later (10 minutes apart); the soak plays that retry
            # for the submissions that are not in the sandbox.
            log(
                f"soak: {refused_deliveries} webhook deliveries were given up by the sandbox; redelivering"
            )
            soak_late_redeliveries(soak)
        state = soak.wait_settled(deadline - 20 - args.outage_seconds)
        outage = run_outage_phase(soak, args, deadline, log) if args.outage_seconds > 0 else None
        if outage is not None:
            state = outage["settled"]
        timed_out = state != "settled" or not sent_all
        counts = audit(soak.ledger, soak.stack.info)
        counts["outage"] = outage
        counts["intake"] = soak.intake_counts()
        counts.update(
            seed=seed,
            stackStartSeconds=round(stack.elapsed, 1),
            sendSeconds=round(sent_seconds, 1),
            totalSeconds=round(time.monotonic() - started, 1),
            settled=state,
            callerRetries={key: value for key, value in sorted(ledger.counters.items())},
            bridge=vars(stack.bridge.stats)
            if stack.bridge is not None and hasattr(stack.bridge, "stats")
            else None,
            sandboxStats=httpx.get(f"{soak.control}/stats", timeout=10).json(),
        )
        counts["webflowAnswersByStatus"] = counts["sandboxStats"].get("byStatus")
    finally:
        stack.stop()
        stack.hub.close()
        stack_out.close()
    ok = (
        not timed_out
        and counts["lost"] == 0
        and counts["duplicatedItems"] == 0
        and counts["duplicatedAssets"] == 0
        and counts["imagesWithoutAsset"] == 0
        and counts["unattachedImages"] == 0
        and counts["refusedAfterRetries"] == 0
        and counts["intake"]["failed"] == 0
    )
    counts["logs"] = str(data_dir / "logs")
    return Outcome(counts=counts, ok=ok, timed_out=timed_out)


def run_outage_phase(
    soak: Soak, args: argparse.Namespace, deadline: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every call a 500 for ``--outage-seconds`` while visitors keep coming, then recovery: how
    long until the queue has written them all, with no replay."""
    soak.configure_faults({"errorRate": 1.0})
    started = time.monotonic()
    log(f"soak: Webflow down (every call a 500) for {args.outage_seconds:g}s")
    sent = soak.send_in_outage(args.outage_submissions, until=started + args.outage_seconds)
    queued_before = soak.intake_counts()
    time.sleep(max(0.0, started + args.outage_seconds - time.monotonic()))
    queued = soak.intake_counts()["queued"]
    soak.configure_faults(NO_FAULTS)
    recovered = time.monotonic()
    log(f"soak: Webflow back; {queued} submissions queued")
    state = soak.wait_settled(deadline - 20)
    after = round(time.monotonic() - recovered, 1) if state == "settled" else None
    return {
        "seconds": args.outage_seconds,
        "submissions": args.outage_submissions,
        "sentInTime": sent,
        "queuedAtRecovery": queued,
        "failedBefore": queued_before["failed"],
        "secondsAfterRecovery": after,
        "settled": state,
    }


def soak_late_redeliveries(soak: Soak) -> None:
    """Redeliver the webhook payloads whose submission is not in the sandbox."""
    info = soak.stack.info
    with httpx.Client(
        base_url=info["apiBaseUrl"],
        headers={"Authorization": f"Bearer {info['tokens']['readOnly']}"},
        timeout=30,
    ) as reader:
        present = {
            item["fieldData"].get("name")
            for item in list_all(
                reader, f"/collections/{info['collections']['submissions']}/items", "items"
            )
        }
    missing = [
        payload for name, payload in soak.ledger.webhook_payloads.items() if name not in present
    ]
    soak.ledger.counters["webhookLateRedeliveries"] = len(missing)
    with httpx.Client(timeout=120) as client:
        for payload in missing:
            deliver_webhook(
                soak.ledger, client, soak.create_url, soak.stack.webhook["secretKey"], payload
            )


def section_of(outcome: Outcome) -> Section:
    counts = outcome.counts
    section = Section(
        key="soak",
        title="Soak under faults: audit",
        columns=[
            "submissions",
            "images",
            "lost",
            "duplicated items",
            "duplicated assets",
            "images not attached",
            "refused after retries",
            "intake failed set",
            "outage: queued at recovery",
            "outage: s after recovery until written",
            "seconds",
        ],
        data=counts,
    )
    outage = counts.get("outage") or {}
    section.rows.append(
        [
            counts["submissionsSent"],
            counts["imagesSent"],
            counts["lost"],
            counts["duplicatedItems"],
            counts["duplicatedAssets"],
            counts["imagesWithoutAsset"] + counts["unattachedImages"],
            counts["refusedAfterRetries"],
            counts["intake"]["failed"],
            outage.get("queuedAtRecovery"),
            outage.get("secondsAfterRecovery"),
            counts["totalSeconds"],
        ]
    )
    if outage:
        section.notes.append(
            f"Then a whole outage: every call a 500 for {outage['seconds']:g} s while "
            f"{outage['submissions']} more form posts and webhooks arrived at its start; after "
            "recovery the queue wrote them by itself (no replay), none in the failed set."
        )
    section.notes.append(
        f"Faults: {FAULTS}, seed {counts['seed']}. Mix: {counts['byKind']} submissions; images through "
        "form file inputs, files named after an item, and gallery drops; some webhooks and storage "
        "events delivered twice; form posts and webhooks through the intake queue "
        f"({counts['intake']['done']} submissions written by drain-intake)."
        f" Result: {'PASS' if outcome.ok else 'FAIL'} ({counts['settled']})."
    )
    return section


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine_info = machine()
    try:
        outcome = run_soak(args, log=lambda line: print(line, file=sys.stderr, flush=True))
    except Exception as exc:  # noqa: BLE001 (any failure to run is exit code 2, with its traceback)
        traceback.print_exc()
        print(f"soak: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    section = section_of(outcome)
    write([section], machine_info, results_dir=args.results_dir, stem="soak", title="Soak")
    counts = outcome.counts
    print(
        json.dumps(
            {k: v for k, v in counts.items() if k not in ("sandboxStats",)}, indent=2, default=str
        )
    )
    print(section.markdown())
    print(
        f"soak: {'PASS' if outcome.ok else 'FAIL'}: lost {counts['lost']}, duplicated items "
        f"{counts['duplicatedItems']}, duplicated assets {counts['duplicatedAssets']}, images without asset "
        f"{counts['imagesWithoutAsset']}, images not attached {counts['unattachedImages']}, refused after "
        f"retries {counts['refusedAfterRetries']}"
    )
    if outcome.timed_out:
        return 2
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
