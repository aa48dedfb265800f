"""HTML form posts and Webflow form_submission webhooks turned into create calls.

A form post's file inputs are written to the ingestion bucket after the item exists, with metadata
naming the item, its collection and the target field; upload-asset attaches them from there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from werkzeug.datastructures import FileStorage, MultiDict

from shared.cms.fields import FieldError, FieldValidationError, InputPath
from shared.cms.items import (
    CreateOutcome,
    ReferenceLookup,
    SlugKey,
    content_key,
    create_items,
)
from shared.core.filetypes import (
    FILE_FIELD_TYPES,
    META_ALT,
    META_COLLECTION_ID,
    META_FIELD,
    META_ITEM_ID,
    META_ITEM_SLUG,
    check_file,
    extension_of,
    extensions_for,
    normalized_content_type,
)
from shared.core.log import get_logger
from shared.core.problems import Problem, Unprocessable
from shared.web.webhooks import FormSubmission, WebhookEvent

if TYPE_CHECKING:
    from shared.web.settings import FormPostSettings
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = [
    "ALT_SUFFIX",
    "REDIRECT_FIELD",
    "FormPost",
    "FormReply",
    "StagedFile",
    "read_form_post",
    "receive_form_submission",
    "submit_form",
    "write_to_bucket",
]

REDIRECT_FIELD = "_redirect"
ALT_SUFFIX = "_alt"

logger = get_logger(__name__)

# (bucket, object name, file, metadata) -> None; writes one object.
ObjectWriter = Callable[[str, str, FileStorage, Mapping[str, str]], None]


class FormBody(Protocol):
    """A parsed form body (shared.web.http's FormData is one): text fields and files, multi-valued."""

    @property
    def fields(self) -> MultiDict[str, str]: ...

    @property
    def files(self) -> MultiDict[str, FileStorage]: ...


@dataclass
class StagedFile:
    """One file input of a form post and where it goes."""

    input_name: str
    upload: FileStorage
    field_slug: str = ""
    alt: str | None = None
    object_name: str | None = None
    stored: bool = False


@dataclass
class FormPost:
    """A parsed form post: values to map, files, where to send the browser, and spam."""

    fields: dict[str, Any]
    files: list[StagedFile] = field(default_factory=list)
    redirect: str | None = None
    is_spam: bool = False  # the honeypot was filled
    # The challenge widget's token (FORM_CAPTCHA), taken out of the fields.
    captcha_token: str | None = None


@dataclass
class FormReply:
    """The outcome of a form post or webhook and what the answer needs."""

    outcome: CreateOutcome | None
    files: list[StagedFile] = field(default_factory=list)
    rejected: Problem | None = None
    # The intake id of a queued submission (shared/intake/queue.py): answered at once, created later.
    queued: str | None = None

    @property
    def status_code(self) -> int:
        """The outcome's status; 207 when a file was not stored; 202 when queued or acknowledged."""
        if self.outcome is None:
            return 202
        status = self.outcome.status_code
        if status < 300 and any(staged.object_name and not staged.stored for staged in self.files):
            return 207
        return status

    def to_json(self) -> dict[str, Any]:
        """The outcome's JSON plus the files staged for upload-asset; a queued submission's id."""
        if self.queued is not None:
            return {"status": "queued", "id": self.queued}
        if self.rejected is not None:
            rejected = self.rejected
            return {
                "code": rejected.code,
                "message": rejected.message,
                "details": rejected.details,
                "acknowledged": True,
            }
        empty: dict[str, Any] = {"created": 0, "existing": 0, "failed": 0, "results": []}
        body = self.outcome.to_json() if self.outcome else empty
        for result in body["results"]:
            if result["status"] == "existing":
                # The same submission made earlier; its id is not shown to an anonymous poster.
                result["id"] = result["slug"] = None
        if self.files:
            body["files"] = [
                {"field": staged.field_slug, "object": staged.object_name, "stored": staged.stored}
                for staged in self.files
            ]
        return body


def read_form_post(form: FormBody, honeypot_field: str, token_field: str | None = None) -> FormPost:
    """Split a form body into field values, files, the redirect, the honeypot verdict and the
    challenge token (``token_field``, never a value to map)."""
    alts = {
        name[: -len(ALT_SUFFIX)]: form.fields[name]
        for name in form.fields
        if name.endswith(ALT_SUFFIX) and name[: -len(ALT_SUFFIX)] in form.files
    }
    values: dict[str, Any] = {}
    for name in form.fields:
        if name in (REDIRECT_FIELD, honeypot_field, token_field) or (
            name[: -len(ALT_SUFFIX)] in alts
        ):
            continue
        given = form.fields.getlist(name)
        values[name] = given[0] if len(given) == 1 else given
    files = [
        StagedFile(name, upload, alt=alts.get(name) or None)
        for name, upload in form.files.items(multi=True)
        if upload.filename
    ]
    return FormPost(
        fields=values,
        files=files,
        redirect=form.fields.get(REDIRECT_FIELD) or None,
        is_spam=bool(form.fields.get(honeypot_field, "").strip()) if honeypot_field else False,
        captcha_token=(form.fields.get(token_field) or None) if token_field else None,
    )


def file_errors(post: FormPost, schema: Collection, settings: FormPostSettings) -> list[FieldError]:
    """Target field, type and size of every file input (fills in each file's field slug)."""
    mapper = settings.public_mapper()
    errors: list[FieldError] = []
    for staged in post.files:
        slug = mapper.target_slug(staged.input_name, schema)
        target = schema.field(slug) if slug else None
        if target is None or target.type not in FILE_FIELD_TYPES:
            if target is not None or mapper.unmapped == "reject":
                errors.append(FieldError(staged.input_name, "does not take a file"))
            continue
        if not settings.upload_bucket:
            errors.append(FieldError(staged.input_name, "file uploads are not enabled"))
            continue
        allowed = sorted(extensions_for(target.type).keys() & settings.file_extensions)
        if not allowed:
            errors.append(FieldError(staged.input_name, "does not take a file"))
            continue
        # The check upload-asset makes again: a file it would refuse is refused here, before the
        # item exists, rather than answered 201 and never attached.
        problem = file_problem(staged, allowed, settings)
        if problem:
            errors.append(FieldError(staged.input_name, problem))
            continue
        staged.field_slug = target.slug
    return errors


def file_problem(
    staged: StagedFile, allowed: Sequence[str], settings: FormPostSettings
) -> str | None:
    """What is wrong with a posted file that may have one of the ``allowed`` extensions, said to
    the visitor (check_file, the one check every path makes), or None."""
    extension = extension_of(staged.upload.filename or "")
    problem = check_file(
        extension,
        normalized_content_type(staged.upload.mimetype),
        file_size(staged.upload),
        allowed,
        image_input_bytes=settings.image_max_input_bytes,
        allow_svg=settings.form_allow_svg,
        head=file_head(staged.upload),
    )
    if problem is None:
        return None
    if problem.kind == "extension":
        return f"must be one of: {', '.join(allowed)}"
    if problem.kind == "svg":
        # An SVG can carry scripts, and an asset is served to visitors from Webflow's CDN.
        return "SVG files are not accepted"
    if problem.kind == "content_type":
        return f"is sent as {problem.content_type}, not as a .{extension} file"
    if problem.kind == "size":
        return f"must be at most {problem.limit / (1024 * 1024):g} MB"
    return "is empty" if problem.kind == "empty" else problem.detail


def file_head(upload: FileStorage, length: int = 64) -> bytes:
    """The file's first bytes (the stream is left where it was)."""
    stream = upload.stream
    position = stream.tell()
    stream.seek(0)
    head: bytes = stream.read(length)
    stream.seek(position)
    return head


def file_size(upload: FileStorage) -> int:
    stream = upload.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


def submit_form(
    client: WebflowClient,
    settings: FormPostSettings,
    collection_id: str,
    post: FormPost,
    write_object: ObjectWriter,
) -> FormReply:
    """Create the post's item (judged not spam before), then stage its files for upload-asset."""
    schema = client.get_collection(collection_id)
    problems_of_files = file_errors(post, schema, settings)
    staged = [f for f in post.files if f.field_slug]
    deferred = {f.field_slug for f in staged}
    if problems_of_files:
        raise _merged(problems_of_files, settings, post, schema, client, deferred)
    outcome = _create_one(
        client,
        settings,
        collection_id,
        post.fields,
        form_name=None,
        deferred=deferred,
        slug_key=content_key,
    )
    result = outcome.results[0]
    if staged and result.status == "created" and result.id and result.slug:
        _stage(staged, settings, collection_id, result.id, result.slug, write_object)
    return FormReply(outcome, staged)


def _merged(
    problems_of_files: list[FieldError],
    settings: FormPostSettings,
    post: FormPost,
    schema: Collection,
    client: WebflowClient,
    deferred: set[str],
) -> FieldValidationError:
    """File errors together with the fields' own errors (nothing is sent)."""
    try:
        settings.public_mapper().prepare_item(
            post.fields, schema, resolve_references=ReferenceLookup(client), deferred=deferred
        )
    except FieldValidationError as exc:
        return FieldValidationError([*exc.errors, *problems_of_files])
    return FieldValidationError(problems_of_files)


def _create_one(
    client: WebflowClient,
    settings: FormPostSettings,
    collection_id: str,
    values: Mapping[str, Any],
    *,
    form_name: str | None,
    slug_key: SlugKey,
    path: InputPath = "form",
    deferred: set[str] | frozenset[str] = frozenset(),
) -> CreateOutcome:
    """Create one public submission: its form's declared fields only, keyed slug, draft default."""
    default_draft, live = settings.public_draft()
    return create_items(
        client,
        collection_id,
        [{"fieldData": dict(values)}],
        settings.public_mapper(form_name, path=path),
        default_draft=default_draft,
        live=live,
        form_name=form_name,
        deferred=deferred,
        slug_key=slug_key,
    )


def _stage(
    staged: Sequence[StagedFile],
    settings: FormPostSettings,
    collection_id: str,
    item_id: str,
    item_slug: str,
    write_object: ObjectWriter,
) -> None:
    """Write each file as <prefix>/<collection>/<item slug>/<field>.<ext> with target metadata."""
    bucket = settings.upload_bucket or ""  # checked with the files, before the item was created
    counts: dict[str, int] = {}
    for staged_file in staged:
        counts[staged_file.field_slug] = counts.get(staged_file.field_slug, 0) + 1
        number = counts[staged_file.field_slug]
        stem = staged_file.field_slug if number == 1 else f"{staged_file.field_slug}-{number}"
        extension = extension_of(staged_file.upload.filename or "")
        staged_file.object_name = posixpath.join(
            *[part for part in settings.form_upload_prefix.split("/") if part],
            collection_id,
            item_slug,
            f"{stem}.{extension}",
        )
        metadata = {
            META_ITEM_ID: item_id,
            META_ITEM_SLUG: item_slug,
            META_COLLECTION_ID: collection_id,
            META_FIELD: staged_file.field_slug,
        }
        if staged_file.alt:
            metadata[META_ALT] = staged_file.alt
        try:
            write_object(bucket, staged_file.object_name, staged_file.upload, metadata)
        except Exception:  # the item exists: report the file rather than fail the post
            logger.exception("file not stored", extra={"object": staged_file.object_name})
            continue
        staged_file.stored = True


def write_to_bucket(
    bucket: str, name: str, upload: FileStorage, metadata: Mapping[str, str]
) -> None:
    """Write one form file to Cloud Storage with its custom metadata (one client per instance)."""
    from shared.core.storage import get_storage

    blob = get_storage().client.bucket(bucket).blob(name)
    blob.metadata = dict(metadata)
    upload.stream.seek(0)
    blob.upload_from_file(upload.stream, content_type=upload.mimetype or None)


# --- webhooks ------------------------------------------------------------------------------


def receive_form_submission(
    client: WebflowClient, settings: FormPostSettings, collection_id: str, event: WebhookEvent
) -> FormReply:
    """Create the item of a verified form_submission; other triggers and forms are acknowledged."""
    if event.trigger_type != "form_submission":
        logger.info("webhook trigger ignored", extra={"triggerType": event.trigger_type})
        return FormReply(outcome=None)
    submission: FormSubmission = event.form_submission()
    names = settings.form_name_filter
    if names and submission.name not in names:
        logger.info("form not in FORM_NAMES: ignored", extra={"form": submission.name})
        return FormReply(outcome=None)
    extra = {"form": submission.name, "submissionId": submission.id}
    try:
        outcome = _create_one(
            client,
            settings,
            collection_id,
            submission.data,
            form_name=submission.name,
            path="webhook",
            slug_key=lambda _: f"webhook:{submission.id}",
        )
    except FieldValidationError as exc:
        # A poison delivery: Webflow would retry it and then deactivate the webhook, so acknowledge.
        logger.warning(
            "form submission rejected and acknowledged", extra={**extra, "details": exc.details}
        )
        return FormReply(outcome=None, rejected=exc)
    if 400 <= outcome.status_code < 500:
        failed = outcome.results[0].error
        logger.warning("form submission refused by Webflow and acknowledged", extra=extra)
        rejected = (
            Unprocessable(failed.code, failed.message, failed.details)
            if failed
            else Unprocessable("not_created", "Not created")
        )
        return FormReply(outcome=None, rejected=rejected)
    logger.info("form submission %s", outcome.results[0].status, extra=extra)
    return FormReply(outcome)
