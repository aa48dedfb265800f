"""The intake drain: queued submissions written to Webflow up to 100 per request, exactly once.

One drain runs per process (:class:`DrainGate`); it lists the pending set, waits up to the batch
window for a partial batch to fill, claims what it takes (shared/intake/queue.py), creates the items
through the same preparation and sending as the synchronous path (shared/cms/items.py, so a create
whose answer was lost resolves to its item by slug), hands a form's files to upload-asset once the
item exists, and then marks each submission done, or failed for good with the reason. A transient
failure (Webflow down, rate limited, the token refused) leaves the submission pending for the next
run. ``python -m shared.intake.drain`` runs it, lists the failed set and replays it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import posixpath
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr

from shared.cms.fields import FieldMapper
from shared.cms.items import (
    CHUNK_SIZE,
    CreateResult,
    Prepared,
    ReferenceLookup,
    SlugKey,
    content_key,
    prepare_items,
    send_items,
)
from shared.cms.settings import PublicFieldSettings
from shared.core.config import FileSettings, api_keys_of
from shared.core.filetypes import (
    FILE_FIELD_TYPES,
    META_ALT,
    META_COLLECTION_ID,
    META_FIELD,
    META_ITEM_ID,
    META_ITEM_SLUG,
    extension_of,
    extensions_for,
)
from shared.core.log import get_logger
from shared.core.problems import Forbidden, upstream_problem
from shared.core.storage import Claim, StorageError
from shared.intake.queue import (
    META_ERROR,
    CorruptSubmission,
    IntakeQueue,
    QueuedObject,
    Submission,
    intake_queue,
)
from shared.intake.settings import IntakeSettings
from shared.webflow.errors import NotFoundError, WebflowError
from shared.webflow.failures import is_refusal

if TYPE_CHECKING:
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = ["DrainGate", "DrainReport", "DrainSettings", "drain", "failed_entry", "main"]

logger = get_logger(__name__)


class DrainSettings(IntakeSettings, PublicFieldSettings, FileSettings):
    """What the drain reads: the queue, the fields public input may write (it maps them as
    create-items does), where form files go, and its own run's bounds."""

    intake_api_keys: SecretStr | None = None
    # Locally (no K_SERVICE), create-items' keys may list and replay too.
    create_items_api_keys: SecretStr | None = None
    intake_batch_window_seconds: float = Field(default=5.0, ge=0, le=60)
    intake_max_run_seconds: float = Field(default=50.0, gt=0)
    intake_claim_seconds: float = Field(default=300.0, gt=0)
    # After a transient failure, how often the run asks Webflow whether it is back (0: it stops).
    intake_probe_seconds: float = Field(default=5.0, ge=0)

    @property
    def replay_keys(self) -> list[SecretStr]:
        """Keys that may list and replay the failed set (INTAKE_API_KEYS; locally, create-items')."""
        return [
            SecretStr(key) for key in api_keys_of(self.intake_api_keys, self.create_items_api_keys)
        ]


@dataclass
class DrainReport:
    """What one run did."""

    created: int = 0
    existing: int = 0
    failed: int = 0
    deferred: int = 0
    replayed: int = 0
    requests: int = 0
    remaining: int = 0
    busy: bool = False

    def to_json(self) -> dict[str, Any]:
        """The run's counts."""
        return {
            "created": self.created,
            "existing": self.existing,
            "failed": self.failed,
            "deferred": self.deferred,
            "replayed": self.replayed,
            "batches": self.requests,
            "remaining": self.remaining,
            "busy": self.busy,
        }


class DrainGate:
    """One drain at a time in a process; a call while one runs asks it to look again before it
    stops, so nothing that arrived meanwhile waits for the sweep."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def enter(self) -> bool:
        """True when the caller is now the drain; False when one runs (it will look again)."""
        with self._lock:
            if self._running:
                self._again = True
                return False
            self._running = True
            self._again = False
            return True

    def leave(self) -> bool:
        """Stop being the drain unless a call asked for another look (then True: go on)."""
        with self._lock:
            if self._again:
                self._again = False
                return True
            self._running = False
            return False


@dataclass
class _Taken:
    """A claimed submission and what becomes of it."""

    queued: QueuedObject
    claim: Claim
    data: bytes
    submission: Submission
    results: list[CreateResult | None] = field(default_factory=list)
    error: str | None = None
    transient: bool = False
    # The file field each queued file goes to (None: the file maps to no field and is dropped,
    # as the synchronous path drops it).
    file_fields: list[str | None] = field(default_factory=list)


def drain(
    queue: IntakeQueue,
    client: WebflowClient,
    settings: DrainSettings,
    *,
    gate: DrainGate | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Write pending submissions to Webflow until none is left or INTAKE_MAX_RUN_SECONDS is
    spent. After a transient failure nothing is sent again blindly: the run asks Webflow every
    INTAKE_PROBE_SECONDS with one read whether it is back, and goes on when it is, so that an
    outage's end is met within seconds rather than at the next sweep."""
    report = DrainReport()
    if gate is not None and not gate.enter():
        report.busy = True
        return report
    deadline = time.monotonic() + settings.intake_max_run_seconds
    try:
        report.replayed = len(queue.replay_transient())
        while True:
            outcome = _run(queue, client, settings, report, deadline, sleep)
            if outcome == "transient" and _webflow_back(client, settings, deadline, sleep):
                continue
            stopped = outcome != "done"
            if stopped or gate is None or not gate.leave():
                break
    except BaseException:
        if gate is not None:
            while gate.leave():
                pass
        raise
    else:
        if gate is not None and stopped:
            while gate.leave():
                pass
    report.remaining = len(queue.listing("pending"))
    logger.info("drain run", extra={"drain": report.to_json()})
    return report


def _webflow_back(
    client: WebflowClient,
    settings: DrainSettings,
    deadline: float,
    sleep: Callable[[float], None],
) -> bool:
    """Wait for Webflow to answer again, asking with one read every INTAKE_PROBE_SECONDS until
    the run's deadline; True when it did (the run goes on)."""
    interval = settings.intake_probe_seconds
    collection_id = settings.webflow_collection_id
    if not interval or not collection_id:
        return False
    from shared.webflow import deadline as within

    while deadline - time.monotonic() > interval:
        sleep(interval)
        try:
            with within(min(interval, max(0.0, deadline - time.monotonic()))):
                client.get_collection(collection_id, refresh=True)
        except WebflowError as exc:
            if is_refusal(exc):
                return False
            continue
        logger.info("Webflow answers again: the run goes on")
        return True
    return False


RunOutcome = Literal["done", "transient", "deadline"]


def _run(
    queue: IntakeQueue,
    client: WebflowClient,
    settings: DrainSettings,
    report: DrainReport,
    deadline: float,
    sleep: Callable[[float], None],
) -> RunOutcome:
    """Batches until the pending set is empty, a transient failure, or the deadline.

    The whole pending set is listed, oldest first, and worked through; it is listed again when
    less than a request's worth is left. Names are hashes, so only a complete listing puts a
    webhook of an hour ago before the forms of a minute ago.
    """
    window = settings.intake_batch_window_seconds
    backlog: list[QueuedObject] = []
    while time.monotonic() < deadline:
        if len(backlog) < CHUNK_SIZE:
            # Less than a request's worth left: listed again, so that what arrived meanwhile
            # fills the request (and, oldest first, goes after what waited longer).
            backlog = queue.listing("pending")
            if not backlog:
                return "done"
            wait = window - backlog[0].age
            if len(backlog) < CHUNK_SIZE and wait > 0:
                # A partial batch: let the burst fill it (a request carries up to 100 items).
                sleep(min(wait, max(0.0, deadline - time.monotonic())))
                backlog = []
                continue
        taken = _take(queue, backlog, settings.intake_claim_seconds, report)
        if not taken:
            return "done"  # what is left of the listing is other drains'
        if _write(queue, client, settings, taken, report):
            return "transient"
    return "deadline"


def _take(
    queue: IntakeQueue, backlog: list[QueuedObject], seconds: float, report: DrainReport
) -> list[_Taken]:
    """Claim and read submissions from the front of ``backlog`` (oldest first, removing what it
    looks at) until they hold a request's worth of items."""
    taken: list[_Taken] = []
    entries = 0
    while backlog and entries < CHUNK_SIZE:
        queued = backlog.pop(0)
        claim = queue.claim(queued.id, seconds)
        if claim is None:
            continue
        data = queue.read(queued)
        if data is None:  # finished by another drain since it was listed
            queue.release(queued.id, claim)
            continue
        try:
            submission = Submission.from_bytes(data)
        except CorruptSubmission as exc:
            queue.fail(queued, data, f"unreadable: {exc}")
            queue.release(queued.id, claim)
            report.failed += 1
            continue
        taken.append(_Taken(queued, claim, data, submission))
        entries += len(submission.entries) - len(submission.settled)
    return taken


def _write(
    queue: IntakeQueue,
    client: WebflowClient,
    settings: DrainSettings,
    taken: list[_Taken],
    report: DrainReport,
) -> bool:
    """Create the taken submissions' items, one bulk create per (collection, live); then settle
    each submission. True when a transient failure should stop the run."""
    groups: dict[tuple[str, bool], list[_Taken]] = {}
    for entry in taken:
        key = (entry.submission.collection_id, entry.submission.live)
        groups.setdefault(key, []).append(entry)
    for (collection_id, live), members in groups.items():
        _create_group(client, settings, collection_id, live, members, report)
    for entry in taken:
        _settle(queue, settings, entry, report)
    # Read after settling: a per-item transient failure (a lost answer, a 500) is known only then.
    return any(entry.transient for entry in taken)


def _create_group(
    client: WebflowClient,
    settings: DrainSettings,
    collection_id: str,
    live: bool,
    members: list[_Taken],
    report: DrainReport,
) -> None:
    try:
        schema = client.get_collection(collection_id)
    except NotFoundError:
        for member in members:
            member.error = f"collection {collection_id} does not exist"
        return
    except WebflowError as exc:
        if is_refusal(exc):
            problem = upstream_problem(exc)
            for member in members:
                member.error = f"{problem.code}: {problem.message}"
            return
        _transient(members, exc)
        return
    lookup = ReferenceLookup(client)
    prepared: list[Prepared] = []
    owners: list[tuple[_Taken, int]] = []
    try:
        for member in members:
            for position, item in _prepare(member, settings, schema, live, lookup):
                item.index = len(prepared)
                prepared.append(item)
                owners.append((member, position))
    except WebflowError as exc:  # a Reference look-up failed
        _transient(members, exc)
        return
    if not prepared:
        return
    try:
        results, _ = send_items(client, collection_id, prepared, live=live)
        report.requests += 1
    except WebflowError as exc:
        if not is_refusal(exc):
            _transient(members, exc)
            return
        problem = upstream_problem(exc)
        for member in members:
            member.error = member.error or f"{problem.code}: {problem.message}"
        return
    for result in results:
        member, position = owners[result.index]
        result.index = position
        member.results[position] = result


def _prepare(
    member: _Taken,
    settings: DrainSettings,
    schema: Collection,
    live: bool,
    lookup: ReferenceLookup,
) -> list[tuple[int, Prepared]]:
    """The member's items prepared as the synchronous path prepares them; errors on the member."""
    submission = member.submission
    member.results = [None] * len(submission.entries)
    for position, done in submission.settled_results():
        member.results[position] = done  # created by an earlier run: not sent again
    try:
        mapper = _mapper(settings, submission)
    except Forbidden as exc:
        member.error = f"{exc.code}: {exc.message}"
        return []
    member.file_fields, file_error = _file_targets(submission, mapper, schema, settings)
    if file_error:
        member.error = file_error
        return []
    slug_key: SlugKey | None = None
    if submission.kind == "form":
        slug_key = content_key
    elif submission.slug_key is not None:
        own = submission.slug_key
        slug_key = lambda _data: own
    ready: list[tuple[int, Prepared]] = []
    errors: list[str] = []
    for position, entry in enumerate(submission.entries):
        if member.results[position] is not None:
            continue
        prepared, failed = prepare_items(
            [entry],
            schema,
            mapper,
            default_draft=submission.default_draft,
            live=live,
            form_name=submission.form_name,
            resolve_references=lookup,
            deferred=[slug for slug in member.file_fields if slug],
            slug_key=slug_key,
        )
        if failed:
            error = failed[0].error
            details = (
                "; ".join(f"{d['field']}: {d['message']}" for d in error.details) if error else ""
            )
            errors.append(f"entry {position}: {details or (error.message if error else 'invalid')}")
        else:
            ready.append((position, prepared[0]))
    if errors:
        member.error = "invalid: " + " | ".join(errors)
        return []  # nothing of a submission is written unless all of it can be
    return ready


def _mapper(settings: DrainSettings, submission: Submission) -> FieldMapper:
    if submission.kind == "json":
        return settings.mapper()
    return settings.public_mapper(submission.form_name, path=submission.path)


def _file_targets(
    submission: Submission, mapper: FieldMapper, schema: Collection, settings: DrainSettings
) -> tuple[list[str | None], str | None]:
    """The file field each of the submission's files goes to (None: it maps to no field and is
    dropped, as the synchronous path drops it), or the reason one cannot go."""
    fields: list[str | None] = []
    for queued_file in submission.files:
        slug = mapper.target_slug(queued_file.input, schema)
        target = schema.field(slug) if slug else None
        extension = extension_of(queued_file.filename)
        if target is None and mapper.unmapped != "reject":
            fields.append(None)
            continue
        if target is None or target.type not in FILE_FIELD_TYPES:
            return fields, f"invalid: {queued_file.input}: does not take a file"
        if (
            extension not in extensions_for(target.type)
            or extension not in settings.file_extensions
        ):
            return fields, f"invalid: {queued_file.input}: a .{extension} file does not fit"
        fields.append(target.slug)
    return fields, None


def _transient(members: Sequence[_Taken], exc: WebflowError) -> None:
    logger.warning(
        "Webflow failed: submissions stay queued",
        extra={"count": len(members), "error": type(exc).__name__},
    )
    for member in members:
        member.transient = True


def _settle(
    queue: IntakeQueue, settings: DrainSettings, entry: _Taken, report: DrainReport
) -> None:
    """Done, failed or left pending, then the claim released.

    Only Webflow's verdict on the content fails a submission: anything else (shared/webflow/failures.py:
    an outage, a lost answer, the token refused) leaves it pending, with the entries already
    created recorded in it so that the next run sends only the rest.
    """
    try:
        results = [result for result in entry.results if result is not None]
        if entry.transient or any(
            result.status == "failed" and not is_refusal(result.error) for result in results
        ):
            entry.transient = True
            report.deferred += 1
            report.created += _keep_progress(queue, entry, results)
            return
        if entry.error is None and len(results) == len(entry.results):
            entry.error = _refusals(results)
        if entry.error is not None or not results:
            queue.fail(entry.queued, entry.data, entry.error or "nothing to create")
            report.failed += 1
            return
        _finish(queue, settings, entry, results, report)
    except StorageError:
        logger.exception(
            "intake object not settled: it stays pending", extra={"submission": entry.queued.id}
        )
        report.deferred += 1
    finally:
        queue.release(entry.queued.id, entry.claim)


def _refusals(results: Sequence[CreateResult]) -> str | None:
    """The reason of a submission some of whose entries Webflow refused, else None."""
    refused = [r for r in results if r.status == "failed"]
    if not refused:
        return None
    return "refused by Webflow: " + " | ".join(
        f"entry {r.index}: {r.error.code if r.error else 'failed'}"
        + (f" ({_details(r)})" if r.error and r.error.details else "")
        for r in refused
    )


def _finish(
    queue: IntakeQueue,
    settings: DrainSettings,
    entry: _Taken,
    results: Sequence[CreateResult],
    report: DrainReport,
) -> None:
    """Hand the files over, mark the submission done, count what this run wrote."""
    _hand_over_files(queue, settings, entry, results[0])
    items = [{"id": r.id, "slug": r.slug, "status": r.status} for r in results]
    queue.finish(entry.queued, entry.data, items)
    queue.drop_files(entry.submission)
    earlier = entry.submission.settled  # counted by the run that wrote them
    for result in results:
        if str(result.index) in earlier:
            continue
        report.created += result.status == "created"
        report.existing += result.status == "existing"


def _keep_progress(queue: IntakeQueue, entry: _Taken, results: Sequence[CreateResult]) -> int:
    """Record in the pending object the entries this run created; how many it created."""
    submission = entry.submission
    written = {
        r.index: {"id": r.id, "slug": r.slug, "status": r.status}
        for r in results
        if r.status != "failed" and r.id and str(r.index) not in submission.settled
    }
    if not written:
        return 0
    submission.settled.update({str(position): done for position, done in written.items()})
    try:
        kept = queue.rewrite(entry.queued, submission.to_bytes())
    except StorageError:
        # Progress is a saving, not a safeguard: unrecorded, the next run finds these items by
        # their slugs instead of skipping them.
        logger.warning("progress not kept", extra={"submission": entry.queued.id})
        kept = False
    if kept:
        logger.info(
            "progress kept: the next run sends only the rest",
            extra={"submission": entry.queued.id, "settled": len(submission.settled)},
        )
    return sum(done["status"] == "created" for done in written.values())


def _details(result: CreateResult) -> str:
    details = result.error.details if result.error else []
    return "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details)[:300]


def _hand_over_files(
    queue: IntakeQueue, settings: DrainSettings, entry: _Taken, item: CreateResult
) -> None:
    """Copy a form's kept files to the upload prefix, named and tagged as the synchronous path
    stages them, now that the item exists; upload-asset attaches them from there.

    Raises:
        StorageError: a copy failed (the submission stays pending; a copy made is kept).
    """
    from google.api_core import exceptions as gexc

    submission = entry.submission
    if not submission.files or not item.id or not item.slug:
        return
    bucket = queue.storage.client.bucket(settings.upload_bucket or queue.bucket_name)
    counts: dict[str, int] = {}
    for (queued_file, blob), field_slug in zip(
        queue.files(submission), entry.file_fields, strict=True
    ):
        if field_slug is None:
            continue  # maps to no field: dropped with the submission's other kept files
        if blob is None:
            logger.warning("a queued file is gone", extra={"object": queued_file.object})
            continue
        counts[field_slug] = counts.get(field_slug, 0) + 1
        number = counts[field_slug]
        stem = field_slug if number == 1 else f"{field_slug}-{number}"
        name = posixpath.join(
            *[part for part in settings.form_upload_prefix.split("/") if part],
            submission.collection_id,
            item.slug,
            f"{stem}.{extension_of(queued_file.filename)}",
        )
        target = bucket.blob(name)
        target.metadata = {
            META_ITEM_ID: item.id,
            META_ITEM_SLUG: item.slug,
            META_COLLECTION_ID: submission.collection_id,
            META_FIELD: field_slug,
            **({META_ALT: queued_file.alt} if queued_file.alt else {}),
        }
        try:
            data = blob.download_as_bytes(retry=queue.storage.retry)
            target.upload_from_string(
                data,
                content_type=queued_file.content_type or blob.content_type,
                if_generation_match=0,
                retry=queue.storage.retry,
            )
        except gexc.PreconditionFailed:
            continue  # handed over by an earlier run
        except (gexc.GoogleAPIError, OSError) as exc:
            raise StorageError(f"handing {queued_file.object} over: {exc}") from exc


# --- the command -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.intake.drain {status,failed,spam,replay,release,drain}`` with the functions'
    environment (``webflow-functions intake ...`` is the same)."""
    parser = argparse.ArgumentParser(
        prog="webflow-functions intake",
        description="The intake queue: its states, the failed set and replay, the quarantine "
        "and release.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="how many submissions are queued, done and failed")
    commands.add_parser("failed", help="the failed set, one JSON line each, with the reason")
    commands.add_parser("spam", help="the quarantine, one JSON line each, with the reason")
    for name, source, what in (
        ("replay", "failed", "queue failed submissions again (idempotent)"),
        ("release", "spam", "queue quarantined submissions after all (idempotent)"),
    ):
        verb = commands.add_parser(name, help=what)
        chosen = verb.add_mutually_exclusive_group(required=True)
        chosen.add_argument("ids", nargs="*", default=[], help=f"submission ids (from `{source}`)")
        chosen.add_argument("--all", action="store_true", help=f"every one of `{source}`")
    commands.add_parser("drain", help="write what is pending to Webflow now")
    args = parser.parse_args(argv)

    out = sys.stdout
    # The answers go to stdout, one JSON line each; the JSON logs go to stderr meanwhile.
    with contextlib.redirect_stdout(sys.stderr):
        return _command(args, lambda value: print(json.dumps(value), file=out, flush=True))


def _command(args: argparse.Namespace, emit: Callable[[Any], None]) -> int:
    from shared.core.config import ConfigError, load_settings
    from shared.core.storage import get_storage
    from shared.webflow import get_client

    try:
        settings = load_settings(DrainSettings)
        queue = intake_queue(settings, get_storage())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        emit(queue.counts().to_json())
    elif args.command in ("failed", "spam"):
        for queued in queue.listing(args.command):
            emit(failed_entry(queued))
    elif args.command == "replay":
        emit({"replayed": queue.replay(None if args.all else list(args.ids))})
    elif args.command == "release":
        emit({"released": queue.release_spam(None if args.all else list(args.ids))})
    else:
        report = drain(queue, get_client(settings), settings)
        emit(report.to_json())
        return 1 if report.failed else 0
    return 0


def failed_entry(queued: QueuedObject) -> dict[str, Any]:
    """A failed or quarantined submission as listed: id, when it entered that set, and why."""
    at = dt.datetime.fromtimestamp(queued.created, dt.UTC)
    return {
        "id": queued.id,
        "reason": queued.metadata.get(META_ERROR, ""),
        "queuedAt": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


if __name__ == "__main__":
    sys.exit(main())
