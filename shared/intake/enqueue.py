"""Submissions checked as the synchronous path checks them, then queued (shared/intake/queue.py).

Nothing here waits on Webflow: the collection schema comes from the instance's cache (stale if
Webflow is failing, refreshed in the background); with none at all, only the structural checks are
made and the drain validates the submission. What is refused here is refused before anything is
written, with the same bodies as the synchronous path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.cms.fields import FieldError, FieldValidationError
from shared.cms.items import (
    CreateItemsRequest,
    CreateResult,
    prepare_items,
    requested_collection,
)
from shared.core.filetypes import (
    FILE_FIELD_TYPES,
    extension_of,
    extensions_for,
)
from shared.core.log import get_logger
from shared.core.problems import Unavailable, Unprocessable
from shared.intake.queue import (
    CorruptSubmission,
    IntakeQueue,
    QueuedFile,
    SchemaSource,
    Submission,
    now_rfc3339,
)
from shared.intake.settings import CreateItemsSettings
from shared.web.forms import FormPost, FormReply, file_errors, file_problem, file_size
from shared.web.webhooks import WebhookEvent

if TYPE_CHECKING:
    from shared.webflow.models import Collection

__all__ = ["quarantine_form", "queue_form", "queue_json_call", "queue_webhook"]

logger = get_logger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_PLACEHOLDER_ID = "0" * 24


def _references_checked_later(
    collection_id: str, references: Sequence[str]
) -> Mapping[str, str | tuple[str, ...]]:
    """References are resolved by the drain (Webflow is not asked at intake)."""
    return dict.fromkeys(references, _PLACEHOLDER_ID)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --- form posts ----------------------------------------------------------------------------


def _admit(queue: IntakeQueue, settings: CreateItemsSettings) -> None:
    """Refuse (503) a post while the queue holds its cap: a flood cannot fill the bucket.

    Raises:
        Unavailable: over INTAKE_MAX_PENDING or INTAKE_MAX_PENDING_BYTES (a count that failed
            admits: shared/intake/queue.py's PendingGauge).
    """
    if queue.gauge.full(settings.intake_max_pending, settings.intake_max_pending_bytes):
        logger.warning(
            "intake queue full: submission refused",
            extra={"queued": queue.gauge.count, "queuedBytes": queue.gauge.bytes},
        )
        raise Unavailable(
            "intake_full", "Too many submissions are waiting; try again later", retry_after=60
        )


def queue_form(
    queue: IntakeQueue,
    schemas: SchemaSource,
    settings: CreateItemsSettings,
    collection_id: str,
    post: FormPost,
) -> FormReply:
    """Check a form post, keep its files, queue it; the reply says "queued" and its id.

    Raises:
        FieldValidationError: a field or file is invalid (nothing is written).
        StorageError: Cloud Storage failed (the caller answers 503; nothing is queued).
    """
    _admit(queue, settings)
    schema = schemas.schema(collection_id)
    mapper = settings.public_mapper()
    if schema is not None:
        errors = file_errors(post, schema, settings)
        deferred = {staged.field_slug for staged in post.files if staged.field_slug}
        try:
            mapper.prepare_item(
                post.fields,
                schema,
                resolve_references=_references_checked_later,
                deferred=deferred,
            )
        except FieldValidationError as exc:
            errors = [*exc.errors, *errors]
        if errors:
            raise FieldValidationError(errors)
    else:
        _structural_file_checks(post, settings)
    # A file that maps to no field is dropped, as the synchronous path drops it (with no schema
    # at hand, the drain tells and drops it then).
    kept = [staged for staged in post.files if schema is None or staged.field_slug]
    submission = _form_submission(queue, settings, collection_id, post, kept)
    submission.validated = schema is not None
    _put(queue, submission)
    return FormReply(outcome=None, queued=submission.id)


def quarantine_form(
    queue: IntakeQueue,
    settings: CreateItemsSettings,
    collection_id: str,
    post: FormPost,
    reason: str,
) -> FormReply:
    """Keep a post judged as spam under ``spam/`` (its files too, for a release), answered as
    any other: a bot learns nothing. Over the queue's cap it is dropped instead.

    Raises:
        FieldValidationError: a file that no field could take (nothing is written).
        StorageError: Cloud Storage failed.
    """
    if queue.gauge.full(
        settings.intake_max_pending, settings.intake_max_pending_bytes
    ) or queue.gauge.spam_full(settings.intake_max_pending_bytes):
        logger.warning("spam dropped: the intake queue is full", extra={"reason": reason})
        return FormReply(outcome=None)
    _structural_file_checks(post, settings)
    submission = _form_submission(queue, settings, collection_id, post, post.files)
    submission.validated = False
    if queue.quarantine(submission, reason):
        queue.gauge.added(len(submission.to_bytes()), spam=True)
    return FormReply(outcome=None, queued=submission.id)


def _form_submission(
    queue: IntakeQueue,
    settings: CreateItemsSettings,
    collection_id: str,
    post: FormPost,
    kept: list[Any],
) -> Submission:
    """The post as a submission, named by its values and files, its files kept in the bucket."""
    files = [(staged, _file_digest(staged.upload.stream)) for staged in kept]
    identity = _digest(
        collection_id, _canonical(post.fields), *(f"{s.input_name}:{d}" for s, d in files)
    )
    submission_id = f"form-{identity}"
    queued_files: list[QueuedFile] = []
    for number, (staged, _digest_of_file) in enumerate(files):
        extension = extension_of(staged.upload.filename or "")
        name = queue.file_name(submission_id, number, extension)
        queue.put_file(name, staged.upload.stream, staged.upload.mimetype)
        staged.object_name, staged.stored = name, True
        queued_files.append(
            QueuedFile(
                input=staged.input_name,
                object=name,
                filename=staged.upload.filename or "",
                content_type=staged.upload.mimetype or None,
                alt=staged.alt,
                size=file_size(staged.upload),
            )
        )
    default_draft, live = settings.public_draft()
    return Submission(
        id=submission_id,
        kind="form",
        collection_id=collection_id,
        entries=[{"fieldData": post.fields}],
        received_at=now_rfc3339(),
        live=live,
        default_draft=default_draft,
        files=queued_files,
    )


def _put(queue: IntakeQueue, submission: Submission) -> bool:
    """Queue ``submission`` and count it in the instance's gauge; False when queued already."""
    data_size = len(submission.to_bytes())
    created = queue.put(submission)
    if created:
        queue.gauge.added(data_size + sum(kept.size for kept in submission.files))
    return created


def _file_digest(stream: Any) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 16):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _structural_file_checks(post: FormPost, settings: CreateItemsSettings) -> None:
    """With no schema at hand: each file must be one some file field could take (type, size)."""
    takes = set().union(*(extensions_for(kind).keys() for kind in FILE_FIELD_TYPES))
    allowed = sorted(takes & settings.file_extensions)
    errors: list[FieldError] = []
    for staged in post.files:
        if not settings.upload_bucket:
            problem: str | None = "file uploads are not enabled"
        else:
            problem = file_problem(staged, allowed, settings)
        if problem:
            errors.append(FieldError(staged.input_name, problem))
    if errors:
        raise FieldValidationError(errors)


# --- webhooks ------------------------------------------------------------------------------


def queue_webhook(
    queue: IntakeQueue,
    schemas: SchemaSource,
    settings: CreateItemsSettings,
    collection_id: str,
    event: WebhookEvent,
) -> FormReply:
    """Queue a verified form_submission under its payload id; other triggers and forms, and a
    submission that can never be created, are acknowledged (Webflow would retry them and then
    deactivate the webhook)."""
    if event.trigger_type != "form_submission":
        logger.info("webhook trigger ignored", extra={"triggerType": event.trigger_type})
        return FormReply(outcome=None)
    submission = event.form_submission()
    names = settings.form_name_filter
    if names and submission.name not in names:
        logger.info("form not in FORM_NAMES: ignored", extra={"form": submission.name})
        return FormReply(outcome=None)
    schema = schemas.schema(collection_id)
    if schema is not None:
        try:
            settings.public_mapper(submission.name, path="webhook").prepare_item(
                submission.data,
                schema,
                form_name=submission.name,
                resolve_references=_references_checked_later,
            )
        except FieldValidationError as exc:
            logger.warning(
                "form submission rejected and acknowledged",
                extra={"form": submission.name, "submissionId": submission.id},
            )
            return FormReply(outcome=None, rejected=exc)
    else:
        settings.public_mapper(submission.name, path="webhook")  # forms_not_enabled if none
    own = submission.id if _SAFE_ID.match(submission.id) else _digest(submission.id)
    submission_id = f"webhook-{own}"
    default_draft, live = settings.public_draft()
    # Kept whatever the queue holds: Webflow redelivers a refused webhook only 3 times.
    _put(
        queue,
        Submission(
            id=submission_id,
            kind="webhook",
            collection_id=collection_id,
            entries=[{"fieldData": submission.data}],
            received_at=now_rfc3339(),
            form_name=submission.name,
            live=live,
            default_draft=default_draft,
            validated=schema is not None,
            slug_key=f"webhook:{submission.id}",
        ),
    )
    return FormReply(outcome=None, queued=submission_id)


# --- JSON calls that prefer an asynchronous answer -----------------------------------------


def queue_json_call(
    queue: IntakeQueue,
    schemas: SchemaSource,
    settings: CreateItemsSettings,
    request: CreateItemsRequest,
    idempotency_key: str | None,
    caller: str = "",
) -> str:
    """Check a JSON call's items and queue them as one submission; its id.

    Every item must be valid for the call to be queued (the synchronous answer's per-item
    failures have no one to go to later). The id is the Idempotency-Key's within ``caller`` (a
    digest of the caller's API key), else the body's.

    Raises:
        InvalidInput / FieldValidationError: as the synchronous path (nothing is written).
        Unprocessable: the Idempotency-Key was used with another body (nothing is written).
    """
    collection_id = requested_collection(settings, request)
    _admit(queue, settings)
    if request.collection_id and schemas.missing(collection_id):
        detail = {"field": "collectionId", "message": "is not a collection the function can reach"}
        raise Unprocessable("collection_not_found", "No such collection", [detail])
    entries = [item.model_dump(by_alias=True, exclude_none=True) for item in request.items]
    schema: Collection | None = schemas.schema(collection_id)
    if schema is not None:
        live = settings.create_live if request.live is None else request.live
        _, failed = prepare_items(
            entries,
            schema,
            settings.mapper(),
            default_draft=settings.create_as_draft,
            live=live,
            resolve_references=_references_checked_later,
        )
        if failed:
            raise _invalid_items(failed, single=len(entries) == 1)
    live = settings.create_live if request.live is None else request.live
    body_digest = _digest(_canonical([collection_id, entries, live]))
    if idempotency_key:
        # The key is the caller's own: another caller's same key is another submission.
        submission_id = f"json-{_digest(caller, collection_id, idempotency_key)}"
    else:
        submission_id = f"json-{body_digest}"
    submission = Submission(
        id=submission_id,
        kind="json",
        collection_id=collection_id,
        entries=entries,
        received_at=now_rfc3339(),
        live=live,
        default_draft=settings.create_as_draft,
        validated=schema is not None,
        body_digest=body_digest,
    )
    # A key used before (pending, done, failed or quarantined) answers as the first call did, and
    # is not queued again; one taken by a racing call meanwhile is compared the same way.
    if idempotency_key and _check_same_body(queue, submission):
        return submission_id
    if not _put(queue, submission) and idempotency_key:
        _check_same_body(queue, submission)
    return submission_id


def _check_same_body(queue: IntakeQueue, submission: Submission) -> bool:
    """True when the key was used before, with the same body; a key used before with another
    body is refused (the IETF Idempotency-Key draft: 422), so that a second, different call is
    never silently dropped, even after the first was written.

    Raises:
        Unprocessable: idempotency_key_reused.
    """
    kept = queue.kept(submission.id)
    if kept is None:
        return False  # never used, or gone with the lifecycle: nothing to compare with
    try:
        first = Submission.from_bytes(kept)
    except CorruptSubmission:
        return True
    same = first.body_digest == submission.body_digest or (
        first.body_digest is None
        and [first.collection_id, first.entries, first.live]
        == [submission.collection_id, submission.entries, submission.live]
    )
    if not same:
        detail = {
            "field": "Idempotency-Key",
            "message": "was used before with another body; use a new key for a new call",
        }
        raise Unprocessable(
            "idempotency_key_reused", "The Idempotency-Key belongs to another call", [detail]
        )
    return True


def _invalid_items(failed: Sequence[CreateResult], *, single: bool) -> FieldValidationError:
    """The invalid items' field errors, named "items[i].fieldData.field" (a lone item: "field")."""
    errors: list[FieldError] = []
    for result in failed:
        for detail in result.error.details if result.error else []:
            name = detail["field"]
            errors.append(
                FieldError(
                    name if single else f"items[{result.index}].fieldData.{name}", detail["message"]
                )
            )
    message = "Some fields are invalid" if single else "Some items are invalid: none was queued"
    return FieldValidationError(errors, message=message)
