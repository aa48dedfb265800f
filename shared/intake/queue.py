"""The intake queue: public submissions kept in Cloud Storage until the drain writes them to Webflow.

A form post, a Webflow form_submission webhook or a JSON call that says ``Prefer: respond-async`` is
checked as on the synchronous path, then written as one JSON object per submission:

- ``<prefix>/pending/<id>.json``: queued, written with ``ifGenerationMatch=0`` (create-if-absent), so a
  double click, a browser resend or a redelivered webhook (the same id) is the same object;
- ``<prefix>/files/<id>/<n>.<ext>``: a form post's files, kept until the item exists;
- ``<prefix>/claims/<id>``: a drain working on the submission (create-if-absent, with an expiry);
- ``<prefix>/done/<id>.json``: written to Webflow, with the item ids in its metadata (kept for audit,
  deleted by a lifecycle rule);
- ``<prefix>/failed/<id>.json``: refused for good, the reason in its metadata, until replayed;
- ``<prefix>/spam/<id>.json``: judged as spam (shared/web/spam.py), the reason in its metadata, never
  written to the CMS unless released.

The states, the drain and the replay are described in docs/intake.md; the drain is shared/intake/drain.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from shared.cms.fields import InputPath
from shared.core.log import get_logger
from shared.core.storage import Claim, StorageError, not_found_error, storage_errors

if TYPE_CHECKING:
    from shared.cms.items import CreateResult
    from shared.core.storage import Storage
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = [
    "FORMAT_VERSION",
    "META_ERROR",
    "META_ITEMS",
    "CorruptSubmission",
    "IntakeQueue",
    "PendingGauge",
    "QueuedFile",
    "QueuedObject",
    "SchemaSource",
    "StatusCounts",
    "Submission",
    "intake_queue",
    "submission_id",
]

FORMAT_VERSION = 1
MAX_ID_LENGTH = 100
META_ERROR = "intake-error"
META_ITEMS = "intake-items"
_MAX_REASON = 1024
Kind = Literal["form", "webhook", "json"]
State = Literal["pending", "done", "failed", "spam"]
_STATES: tuple[State, ...] = ("pending", "done", "failed", "spam")

logger = get_logger(__name__)


class CorruptSubmission(Exception):
    """An intake object that cannot be read as a submission (the reason is the message)."""


def submission_id(kind: Kind, *parts: str) -> str:
    """A stable object id: the kind and 32 hex digits of the SHA-256 of ``parts``.

    A webhook's id is its payload id; a form post's is its values and files, so the same post
    twice (a double click, a browser resend) is the same object.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{kind}-{digest}"


@dataclass
class QueuedFile:
    """A form post's file, kept in the intake bucket until its item exists."""

    input: str
    object: str
    filename: str
    content_type: str | None = None
    alt: str | None = None
    size: int = 0


@dataclass
class Submission:
    """One queued submission: what the drain needs to create its item(s) as the synchronous path
    would have."""

    id: str
    kind: Kind
    collection_id: str
    entries: list[dict[str, Any]]
    received_at: str = ""
    form_name: str | None = None
    live: bool = False
    default_draft: bool = False
    files: list[QueuedFile] = field(default_factory=list)
    # False when no schema was at hand at intake: only the structural checks were made.
    validated: bool = True
    # The webhook's submission id (its items' slug key); None for forms (their values are the key).
    slug_key: str | None = None
    # {entry position: {"id", "slug", "status"}} of entries an earlier run wrote, while others
    # wait on a transient failure: they are not sent again.
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A JSON call's: the SHA-256 of its body, so that its Idempotency-Key cannot carry another.
    body_digest: str | None = None

    def settled_results(self) -> Iterator[tuple[int, CreateResult]]:
        """The entries an earlier run wrote, as results at their positions."""
        from shared.cms.items import CreateResult

        for key, done in self.settled.items():
            position = int(key)
            if 0 <= position < len(self.entries):
                yield (
                    position,
                    CreateResult(
                        position,
                        "existing" if done.get("status") == "existing" else "created",
                        done.get("id"),
                        done.get("slug"),
                    ),
                )

    @property
    def path(self) -> InputPath:
        """The input path whose field policy applies (json, form or webhook)."""
        return self.kind

    def to_bytes(self) -> bytes:
        """The object's content: versioned JSON."""
        body = {"version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Submission:
        """Read an intake object.

        Raises:
            CorruptSubmission: not JSON, another version, or a field missing or of the wrong type.
        """
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptSubmission(f"not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise CorruptSubmission("not a JSON object")
        if body.pop("version", None) != FORMAT_VERSION:
            raise CorruptSubmission(f"not a version {FORMAT_VERSION} submission")
        try:
            files = [QueuedFile(**entry) for entry in body.pop("files", [])]
            submission = cls(**body, files=files)
        except TypeError as exc:
            raise CorruptSubmission(f"unexpected shape: {exc}") from None
        if submission.kind not in ("form", "webhook", "json") or not isinstance(
            submission.entries, list
        ):
            raise CorruptSubmission("unknown kind or entries not a list")
        if not all(isinstance(entry, dict) for entry in submission.entries):
            raise CorruptSubmission("an entry is not an object")
        if not isinstance(submission.settled, dict) or not all(
            key.isdigit() and isinstance(done, dict) for key, done in submission.settled.items()
        ):
            raise CorruptSubmission("settled is not a map of entry positions")
        return submission


@dataclass(frozen=True)
class QueuedObject:
    """A listed intake object: its state, id and when it was written."""

    state: State
    id: str
    name: str
    generation: int
    created: float
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def age(self) -> float:
        """Seconds since it was written."""
        return max(0.0, time.time() - self.created)


@dataclass
class StatusCounts:
    """How many submissions are in each state (``done`` counts what the lifecycle kept), and the
    bytes the pending ones hold with their files."""

    queued: int = 0
    done: int = 0
    failed: int = 0
    queued_bytes: int = 0
    spam: int = 0

    def to_json(self) -> dict[str, int]:
        """{"queued", "done", "failed", "spam", "queuedBytes"}."""
        return {
            "queued": self.queued,
            "done": self.done,
            "failed": self.failed,
            "spam": self.spam,
            "queuedBytes": self.queued_bytes,
        }


class PendingGauge:
    """How much the queue holds: counted from a listing at most every ``refresh`` seconds, and
    advanced meanwhile by what this instance queued, so that a burst between two listings is
    counted too. Instances share nothing else: the cap holds within a listing's staleness."""

    def __init__(
        self, queue: IntakeQueue, refresh: float = 10.0, clock: Any = time.monotonic
    ) -> None:
        self._queue = queue
        self._refresh = refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._counted_at: float | None = None
        self.count = 0
        self.bytes = 0
        self.spam_bytes = 0

    def full(self, max_count: int, max_bytes: int) -> bool:
        """True when the pending set holds ``max_count`` submissions or ``max_bytes`` bytes (a
        zero is no cap); a listing that fails admits, logged at ERROR."""
        if not max_count and not max_bytes:
            return False
        with self._lock:
            self._recount()
            return bool(
                (max_count and self.count >= max_count) or (max_bytes and self.bytes >= max_bytes)
            )

    def spam_full(self, max_bytes: int) -> bool:
        """True when the quarantine holds ``max_bytes`` bytes: spam is then dropped, and counted
        apart, so that a flood of it never refuses a visitor."""
        if not max_bytes:
            return False
        with self._lock:
            self._recount()
            return self.spam_bytes >= max_bytes

    def _recount(self) -> None:
        now = self._clock()
        if self._counted_at is not None and now - self._counted_at < self._refresh:
            return
        try:
            self.count, self.bytes, self.spam_bytes = self._queue.usage()
        except StorageError:
            # The count failing must not refuse every visitor: the cap waits for the next
            # listing (a write that fails as well still answers 503).
            logger.exception("the intake queue could not be counted: posts admitted")
        self._counted_at = now

    def added(self, size: int, *, spam: bool = False) -> None:
        """This instance queued (or quarantined) a submission of ``size`` bytes."""
        with self._lock:
            if spam:
                self.spam_bytes += size
                return
            self.count += 1
            self.bytes += size


class IntakeQueue:
    """The intake objects of one bucket and prefix, through google-cloud-storage.

    Every state change is create-if-absent (``ifGenerationMatch=0``) of the new object, then a
    delete of the old one: real Cloud Storage and fake-gcs-server both honour that precondition on
    uploads, so the same rules hold locally and deployed.
    """

    def __init__(self, storage: Storage, bucket: str, prefix: str = "intake") -> None:
        self.storage = storage
        self.bucket_name = bucket
        self.prefix = "/".join(part for part in prefix.split("/") if part)
        # What the queue holds, as this instance counts it (the cap on pending submissions).
        self.gauge = PendingGauge(self)
        self._transient_checked_at: float | None = None

    # -- names ----------------------------------------------------------------------------------

    def object_name(self, state: State, submission_id: str) -> str:
        """Where a submission in ``state`` is kept."""
        return posixpath.join(self.prefix, state, f"{submission_id}.json")

    def _claim_name(self, submission_id: str) -> str:
        return posixpath.join(self.prefix, "claims", submission_id)

    def file_name(self, submission_id: str, number: int, extension: str) -> str:
        """Where a form post's ``number``th file is kept until its item exists."""
        return posixpath.join(self.prefix, "files", submission_id, f"{number}.{extension}")

    def parse_name(self, name: str) -> tuple[State, str] | None:
        """(state, id) of an intake object's name; None for anything else (files, claims...)."""
        head, _, rest = name.partition(f"{self.prefix}/" if self.prefix else "")
        if head or not rest:
            return None
        state, _, leaf = rest.partition("/")
        for known in _STATES:
            if state == known and "/" not in leaf and leaf.endswith(".json"):
                return known, leaf.removesuffix(".json")
        return None

    @property
    def _bucket(self) -> Any:
        return self.storage.client.bucket(self.bucket_name)

    # -- writes ---------------------------------------------------------------------------------

    def _create(
        self,
        name: str,
        data: bytes | IO[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> bool:
        """Create ``name`` unless it exists; False when it existed (412)."""
        from google.api_core import exceptions as gexc

        blob = self._bucket.blob(name)
        if metadata:
            blob.metadata = dict(metadata)
        try:
            with storage_errors(
                f"writing gs://{self.bucket_name}/{name}", (gexc.PreconditionFailed,)
            ):
                if isinstance(data, bytes):
                    blob.upload_from_string(
                        data,
                        content_type=content_type,
                        if_generation_match=0,
                        retry=self.storage.retry,
                    )
                else:
                    data.seek(0)
                    blob.upload_from_file(
                        data,
                        content_type=content_type,
                        if_generation_match=0,
                        retry=self.storage.retry,
                        rewind=True,
                    )
        except gexc.PreconditionFailed:
            return False
        except gexc.NotFound as exc:  # the bucket itself is missing: nothing can be kept
            raise StorageError(f"writing gs://{self.bucket_name}/{name}: {exc}") from exc
        return True

    def _delete(self, name: str, generation: int | None = None) -> None:
        """Delete ``name`` (at ``generation`` when given); gone already is fine."""
        from google.api_core import exceptions as gexc

        with (
            storage_errors(f"deleting gs://{self.bucket_name}/{name}", (gexc.PreconditionFailed,)),
            contextlib.suppress(not_found_error(), gexc.PreconditionFailed),
        ):
            self._bucket.blob(name).delete(if_generation_match=generation, retry=self.storage.retry)

    def put(self, submission: Submission) -> bool:
        """Queue ``submission``; False when it is queued already (the same id).

        Raises:
            StorageError: Cloud Storage failed; nothing is queued.
        """
        created = self._create(
            self.object_name("pending", submission.id),
            submission.to_bytes(),
            content_type="application/json",
        )
        logger.info(
            "submission queued" if created else "submission already queued",
            extra={"submission": submission.id, "kind": submission.kind},
        )
        return created

    def rewrite(self, queued: QueuedObject, data: bytes) -> bool:
        """Replace a pending object's content while it is the generation listed; False when it
        changed or went meanwhile (the next run reads what is there)."""
        from google.api_core import exceptions as gexc

        blob = self._bucket.blob(queued.name)
        try:
            with storage_errors(
                f"writing gs://{self.bucket_name}/{queued.name}", (gexc.PreconditionFailed,)
            ):
                blob.upload_from_string(
                    data,
                    content_type="application/json",
                    if_generation_match=queued.generation,
                    retry=self.storage.retry,
                )
        except gexc.PreconditionFailed:
            return False
        return True

    def put_file(self, name: str, stream: IO[bytes], content_type: str | None) -> None:
        """Keep a form file (create-if-absent: a resent post has the same files)."""
        self._create(name, stream, content_type=content_type or "application/octet-stream")

    # -- reads ----------------------------------------------------------------------------------

    def listing(self, state: State, *, limit: int | None = None) -> list[QueuedObject]:
        """The submissions in ``state``, oldest first (at most ``limit``, listing in name order)."""
        prefix = posixpath.join(self.prefix, state) + "/"
        found: list[QueuedObject] = []
        with storage_errors(f"listing gs://{self.bucket_name}/{prefix}"):
            for blob in self.storage.client.list_blobs(
                self.bucket_name, prefix=prefix, max_results=limit, retry=self.storage.retry
            ):
                parsed = self.parse_name(blob.name)
                if parsed is None:
                    continue
                created = blob.time_created.timestamp() if blob.time_created else time.time()
                found.append(
                    QueuedObject(
                        parsed[0],
                        parsed[1],
                        blob.name,
                        int(blob.generation or 0),
                        created,
                        dict(blob.metadata or {}),
                    )
                )
        return sorted(found, key=lambda queued: (queued.created, queued.name))

    def read(self, queued: QueuedObject) -> bytes | None:
        """The object's bytes; None when it is gone (taken by another drain, or replayed)."""
        with storage_errors(f"reading gs://{self.bucket_name}/{queued.name}"):
            try:
                data: bytes = self._bucket.blob(queued.name).download_as_bytes(
                    retry=self.storage.retry
                )
            except not_found_error():
                return None
        return data

    def kept(self, submission_id: str) -> bytes | None:
        """A submission's content in whichever state it is (pending, done, failed or spam); None
        when it is kept in none."""
        for state in _STATES:
            name = self.object_name(state, submission_id)
            with storage_errors(f"reading gs://{self.bucket_name}/{name}"):
                try:
                    data: bytes = self._bucket.blob(name).download_as_bytes(
                        retry=self.storage.retry
                    )
                except not_found_error():
                    continue
            return data
        return None

    def counts(self) -> StatusCounts:
        """How many submissions each state holds."""
        pending, pending_bytes, _ = self.usage()
        kept: tuple[State, ...] = ("done", "failed", "spam")
        listed = {state: len(self.listing(state)) for state in kept}
        return StatusCounts(
            pending, listed["done"], listed["failed"], pending_bytes, listed["spam"]
        )

    def usage(self) -> tuple[int, int, int]:
        """(pending submissions, bytes they hold with their kept files, bytes of the quarantine)."""
        count = size = spam = 0
        for prefix in ("pending", "files", "spam"):
            where = posixpath.join(self.prefix, prefix) + "/"
            try:
                with storage_errors(f"listing gs://{self.bucket_name}/{where}"):
                    for blob in self.storage.client.list_blobs(
                        self.bucket_name, prefix=where, retry=self.storage.retry
                    ):
                        if prefix == "spam":
                            spam += int(blob.size or 0)
                            continue
                        size += int(blob.size or 0)
                        count += prefix == "pending"
            except not_found_error() as exc:  # the bucket itself is missing
                raise StorageError(f"listing gs://{self.bucket_name}/{where}: {exc}") from exc
        return count, size, spam

    # -- claims ---------------------------------------------------------------------------------

    def claim(self, submission_id: str, seconds: float) -> Claim | None:
        """Claim a submission for ``seconds``; None when another drain holds a live claim.

        The claim is a marker object written create-if-absent; one whose expiry has passed (its
        drain died) is cleared once and the claim tried again.
        """
        claim = Claim(0, uuid.uuid4().hex, time.time() + seconds)
        name = self._claim_name(submission_id)
        for _attempt in range(2):
            if self._create(name, claim.encode().encode(), content_type="text/plain"):
                return claim
            if not self._clear_lapsed(name):
                return None
        return None

    def _clear_lapsed(self, name: str) -> bool:
        """Delete a lapsed claim marker; False while it is live."""
        with storage_errors(f"reading gs://{self.bucket_name}/{name}"):
            blob = self._bucket.get_blob(name, retry=self.storage.retry)
            held = Claim.parse(blob.download_as_text()) if blob is not None else None
        if blob is not None and held is not None and not held.expired():
            return False
        if blob is not None:
            self._delete(name, blob.generation)
        return True

    def release(self, submission_id: str, claim: Claim) -> None:
        """Give a claim back (best effort: a lapsed one is cleared by the next claim)."""
        name = self._claim_name(submission_id)
        with contextlib.suppress(StorageError):
            with storage_errors(f"reading gs://{self.bucket_name}/{name}"):
                blob = self._bucket.get_blob(name, retry=self.storage.retry)
                held = Claim.parse(blob.download_as_text()) if blob is not None else None
            if blob is not None and held is not None and held.claim_id == claim.claim_id:
                self._delete(name, blob.generation)

    # -- state changes --------------------------------------------------------------------------

    def _move(
        self, queued: QueuedObject, state: State, data: bytes, metadata: Mapping[str, str]
    ) -> None:
        """Write the submission under ``state`` (kept if there already), then drop the old one."""
        self._create(
            self.object_name(state, queued.id),
            data,
            content_type="application/json",
            metadata=metadata,
        )
        self._delete(queued.name, queued.generation or None)

    def finish(self, queued: QueuedObject, data: bytes, items: Sequence[Mapping[str, Any]]) -> None:
        """Mark a submission done, naming its item(s)."""
        described = json.dumps(list(items), separators=(",", ":"))[:_MAX_REASON]
        self._move(queued, "done", data, {META_ITEMS: described})

    def fail(self, queued: QueuedObject, data: bytes, reason: str) -> None:
        """Move a submission to the failed set with ``reason``; it is logged at ERROR."""
        logger.error(
            "submission failed for good: kept for replay",
            extra={"submission": queued.id, "reason": reason[:_MAX_REASON]},
        )
        self._move(queued, "failed", data, {META_ERROR: reason[:_MAX_REASON]})

    def quarantine(self, submission: Submission, reason: str) -> bool:
        """Keep a submission judged as spam under ``spam/`` with the reason, never to be written
        to the CMS unless released; False when it is kept there already."""
        created = self._create(
            self.object_name("spam", submission.id),
            submission.to_bytes(),
            content_type="application/json",
            metadata={META_ERROR: reason[:_MAX_REASON]},
        )
        logger.info(
            "submission quarantined" if created else "submission already quarantined",
            extra={"submission": submission.id, "reason": reason[:_MAX_REASON]},
        )
        return created

    def release_spam(self, ids: Sequence[str] | None = None) -> list[str]:
        """Queue quarantined submissions after all (every one when ``ids`` is None); their ids."""
        return self.replay(ids, source="spam")

    def replay(self, ids: Sequence[str] | None = None, *, source: State = "failed") -> list[str]:
        """Queue failed submissions again (all of them when ``ids`` is None); their ids.

        Idempotent: a submission already queued again is left as it is, and the drain resolves one
        that was created meanwhile to its existing item (its slug is its key).
        """
        wanted = None if ids is None else set(ids)
        replayed: list[str] = []
        for queued in self.listing(source):
            if wanted is not None and queued.id not in wanted:
                continue
            data = self.read(queued)
            if data is None:
                continue
            self._create(
                self.object_name("pending", queued.id), data, content_type="application/json"
            )
            self._delete(queued.name, queued.generation or None)
            replayed.append(queued.id)
            logger.info(
                "submission released" if source == "spam" else "submission replayed",
                extra={"submission": queued.id},
            )
        return replayed

    def replay_transient(self, every: float = 300.0) -> list[str]:
        """Queue again the failed submissions whose reason was transient (shared/webflow/failures.py):
        an outage is no verdict on them. Only an older version could fail one so, which is why
        the failed set is listed for it at most every ``every`` seconds, not at each run."""
        now = time.monotonic()
        if self._transient_checked_at is not None and now - self._transient_checked_at < every:
            return []
        self._transient_checked_at = now
        ids = [
            queued.id
            for queued in self.listing("failed")
            if transient_reason(queued.metadata.get(META_ERROR, ""))
        ]
        return self.replay(ids) if ids else []

    def files(self, submission: Submission) -> Iterator[tuple[QueuedFile, Any]]:
        """Each queued file of ``submission`` with its blob (None when it is gone)."""
        for queued_file in submission.files:
            with storage_errors(f"reading gs://{self.bucket_name}/{queued_file.object}"):
                blob = self._bucket.get_blob(queued_file.object, retry=self.storage.retry)
            yield queued_file, blob

    def drop_files(self, submission: Submission) -> None:
        """Delete a finished submission's kept files (they are in the upload bucket now)."""
        for queued_file in submission.files:
            self._delete(queued_file.object)


_REFUSED_CODE = re.compile(r"entry \d+: (?P<code>[a-z_]+)")


def transient_reason(reason: str) -> bool:
    """True when a failed set's reason names a transient failure rather than Webflow's verdict."""
    from shared.webflow.failures import CREDENTIAL_CODES, TRANSIENT_CODES

    not_verdicts = TRANSIENT_CODES | CREDENTIAL_CODES
    if reason.startswith("refused by Webflow: "):
        codes = {match["code"] for match in _REFUSED_CODE.finditer(reason)}
        return bool(codes & not_verdicts)
    return reason.partition(":")[0].strip() in not_verdicts


def now_rfc3339() -> str:
    """The time now, as intake records write it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SchemaSource:
    """Collection schemas for intake checks that never wait long on Webflow.

    A fresh cached schema is used as is; a stale one is used at once and refreshed in the
    background; with none cached, a fetch is awaited for ``wait`` seconds and then left running,
    the submission taken with only the structural checks (the drain validates it). Only one
    caller waits at a time: while a fetch has been running longer than ``wait``, or after one
    failed (for ``quiet`` seconds), callers do not wait at all, so that a Webflow outage costs
    one visitor ``wait`` seconds, not each of them.
    """

    def __init__(self, client: WebflowClient, wait: float, quiet: float = 30.0) -> None:
        self.client = client
        self.wait = wait
        self.quiet = quiet
        self._lock = threading.Lock()
        self._fetching: dict[str, tuple[threading.Thread, float]] = {}
        self._failed_at: dict[str, float] = {}
        self._missing: set[str] = set()

    def missing(self, collection_id: str) -> bool:
        """True when Webflow said the collection does not exist (and no schema is cached)."""
        return (
            collection_id in self._missing and self.client.cached_collection(collection_id) is None
        )

    def schema(self, collection_id: str) -> Collection | None:
        """The collection's schema, stale if need be; None when none could be had in time."""
        cached = self.client.cached_collection(collection_id)
        if cached is not None:
            age, schema = cached
            if age >= self.client.schema_cache_ttl:
                self._fetch(collection_id)
            return schema
        thread, started = self._fetch(collection_id)
        now = time.monotonic()
        failed_at = self._failed_at.get(collection_id)
        if failed_at is None or now - failed_at >= self.quiet:
            thread.join(max(0.0, self.wait - (now - started)))
        cached = self.client.cached_collection(collection_id)
        return cached[1] if cached is not None else None

    def _fetch(self, collection_id: str) -> tuple[threading.Thread, float]:
        """The background fetch of ``collection_id``'s schema and when it started (one at a
        time per collection)."""
        with self._lock:
            running = self._fetching.get(collection_id)
            if running is not None and running[0].is_alive():
                return running
            thread = threading.Thread(
                target=self._refresh, args=(collection_id,), name="schema-refresh", daemon=True
            )
            started = (thread, time.monotonic())
            self._fetching[collection_id] = started
            thread.start()
            return started

    def _refresh(self, collection_id: str) -> None:
        from shared.webflow.errors import NotFoundError, WebflowError

        try:
            self.client.get_collection(collection_id, refresh=True)
            self._missing.discard(collection_id)
            self._failed_at.pop(collection_id, None)
        except NotFoundError:
            self._missing.add(collection_id)
        except WebflowError as exc:
            self._failed_at[collection_id] = time.monotonic()
            logger.warning(
                "schema refresh failed: intake uses what it has",
                extra={"collection": collection_id, "error": type(exc).__name__},
            )


class _QueueSettings(Protocol):
    intake_bucket: str | None
    upload_bucket: str | None
    intake_prefix: str


def intake_queue(settings: _QueueSettings, storage: Storage) -> IntakeQueue:
    """The queue INTAKE_BUCKET (or UPLOAD_BUCKET) and INTAKE_PREFIX name.

    Raises:
        ConfigError: no bucket is configured.
    """
    from shared.core.config import ConfigError

    bucket = settings.intake_bucket or settings.upload_bucket
    if not bucket:
        raise ConfigError("INTAKE_BUCKET (or UPLOAD_BUCKET) is required for the intake queue")
    return IntakeQueue(storage, bucket, settings.intake_prefix)
