"""HTML form posts and Webflow form_submission webhooks turned into create calls.

A form post's file inputs are written to the ingestion bucket after the item exists, with metadata
naming the item, its collection and the target field; upload-asset attaches them from there.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import flask
from werkzeug.datastructures import FileStorage

from shared.fields import FieldError, FieldValidationError, InputPath
from shared.filetypes import (
    FILE_FIELD_TYPES,
    META_ALT,
    META_COLLECTION_ID,
    META_FIELD,
    META_ITEM_ID,
    META_ITEM_SLUG,
    content_type_fits,
    extension_of,
    extensions_for,
    normalized_content_type,
    size_limit,
)
from shared.http import (
    AppError,
    FormData,
    json_response,
    names_html,
    origin_allowed,
    redirect_response,
    report_error,
    to_app_error,
    wants_json,
)
from shared.items import (
    CreateItemsSettings,
    CreateOutcome,
    ReferenceLookup,
    SlugKey,
    content_key,
    create_items,
)
from shared.log import get_logger
from shared.pages import PAGE_HEADERS, error_page, thank_you_page
from shared.webhooks import FormSubmission, WebhookEvent

if TYPE_CHECKING:
    from shared.models import Collection
    from shared.webflow import WebflowClient

__all__ = [
    "ALT_SUFFIX",
    "REDIRECT_FIELD",
    "FormPost",
    "FormReply",
    "StagedFile",
    "back_url",
    "error_location",
    "form_answer",
    "form_error_answer",
    "html_response",
    "read_form_post",
    "receive_form_submission",
    "submit_form",
    "success_location",
    "write_to_bucket",
]

REDIRECT_FIELD = "_redirect"
_UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")
ALT_SUFFIX = "_alt"

logger = get_logger(__name__)

# (bucket, object name, file, metadata) -> None; writes one object.
ObjectWriter = Callable[[str, str, FileStorage, Mapping[str, str]], None]


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
    is_spam: bool = False


@dataclass
class FormReply:
    """The outcome of a form post or webhook and what the answer needs."""

    outcome: CreateOutcome | None
    files: list[StagedFile] = field(default_factory=list)
    rejected: AppError | None = None

    @property
    def status_code(self) -> int:
        """The outcome's status; 207 when a file was not stored; 202 when acknowledged only."""
        if self.outcome is None:
            return 202
        status = self.outcome.status_code
        if status < 300 and any(staged.object_name and not staged.stored for staged in self.files):
            return 207
        return status

    def error(self) -> AppError | None:
        """The failure to show a browser, if the post failed."""
        if self.rejected is not None:
            return self.rejected
        if self.outcome is None or self.status_code < 400:
            return None
        failed = self.outcome.results[0].error
        code, message = (failed.code, failed.message) if failed else ("not_created", "Not created")
        return AppError(self.status_code, code, message, failed.details if failed else None)

    def to_json(self) -> dict[str, Any]:
        """The outcome's JSON plus the files staged for upload-asset."""
        if self.rejected is not None:
            return {**self.rejected.to_body(), "acknowledged": True}
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


def read_form_post(form: FormData, honeypot_field: str) -> FormPost:
    """Split a form body into field values, files, the redirect and the honeypot verdict."""
    alts = {
        name[: -len(ALT_SUFFIX)]: form.fields[name]
        for name in form.fields
        if name.endswith(ALT_SUFFIX) and name[: -len(ALT_SUFFIX)] in form.files
    }
    values: dict[str, Any] = {}
    for name in form.fields:
        if name in (REDIRECT_FIELD, honeypot_field) or name[: -len(ALT_SUFFIX)] in alts:
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
    )


def _file_errors(
    post: FormPost, schema: Collection, settings: CreateItemsSettings
) -> list[FieldError]:
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
        extension = extension_of(staged.upload.filename or "")
        allowed = sorted(extensions_for(target.type).keys() & settings.file_extensions)
        if not allowed:
            errors.append(FieldError(staged.input_name, "does not take a file"))
            continue
        if extension not in allowed:
            errors.append(FieldError(staged.input_name, f"must be one of: {', '.join(allowed)}"))
            continue
        if extension == "svg" and not settings.form_allow_svg:
            # An SVG can carry scripts, and an asset is served to visitors from Webflow's CDN.
            errors.append(FieldError(staged.input_name, "SVG files are not accepted"))
            continue
        # The checks upload-asset makes again: a file it would refuse is refused here, before the
        # item exists, rather than answered 201 and never attached.
        reported = normalized_content_type(staged.upload.mimetype)
        if not content_type_fits(extension, reported):
            errors.append(
                FieldError(staged.input_name, f"is sent as {reported}, not as a .{extension} file")
            )
            continue
        size = _size(staged.upload)
        limit = size_limit(extension)
        if size > limit:
            errors.append(
                FieldError(staged.input_name, f"must be at most {limit // (1024 * 1024)} MB")
            )
            continue
        if size == 0:
            errors.append(FieldError(staged.input_name, "is empty"))
            continue
        staged.field_slug = target.slug
    return errors


def _size(upload: FileStorage) -> int:
    stream = upload.stream
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


def submit_form(
    client: WebflowClient,
    settings: CreateItemsSettings,
    collection_id: str,
    post: FormPost,
    write_object: ObjectWriter,
) -> FormReply:
    """Create the post's item (unless it is spam), then stage its files for upload-asset."""
    if post.is_spam:
        logger.info("honeypot filled: submission dropped")
        return FormReply(outcome=None)
    schema = client.get_collection(collection_id)
    file_errors = _file_errors(post, schema, settings)
    staged = [f for f in post.files if f.field_slug]
    deferred = {f.field_slug for f in staged}
    if file_errors:
        raise _merged(file_errors, settings, post, schema, client, deferred)
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
    file_errors: list[FieldError],
    settings: CreateItemsSettings,
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
        return FieldValidationError([*exc.errors, *file_errors])
    return FieldValidationError(file_errors)


def _create_one(
    client: WebflowClient,
    settings: CreateItemsSettings,
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
    settings: CreateItemsSettings,
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
    from shared.storage import get_storage

    blob = get_storage().client.bucket(bucket).blob(name)
    blob.metadata = dict(metadata)
    upload.stream.seek(0)
    blob.upload_from_file(upload.stream, content_type=upload.mimetype or None)


# --- where the browser goes ----------------------------------------------------------------


def _allowed_redirect(location: str | None, settings: CreateItemsSettings) -> str | None:
    """A `_redirect` is followed only to an origin listed by name (never an open redirect).

    ALLOWED_ORIGINS "*" lets any page post the form, but does not let the post send the browser
    anywhere. Whitespace and control characters are refused: urlsplit drops some of them before
    parsing, so the origin checked could differ from where the browser would go.
    """
    if not location or _UNSAFE_URL_CHARACTER.search(location):
        return None
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    listed = [entry for entry in settings.origins if entry != "*"]
    trusted = [*listed, *_origins_of(settings.form_success_url, settings.form_error_url)]
    return location if origin_allowed(origin, trusted) else None


def _origins_of(*urls: str | None) -> list[str]:
    origins = []
    for url in urls:
        parts = urlsplit(url or "")
        if parts.scheme and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def success_location(post: FormPost | None, settings: CreateItemsSettings) -> str | None:
    """Where to send the browser after a successful post: `_redirect`, else FORM_SUCCESS_URL."""
    return _allowed_redirect(post.redirect if post else None, settings) or settings.form_success_url


def error_location(error: AppError, settings: CreateItemsSettings) -> str | None:
    """FORM_ERROR_URL with the error's code, message and fields in the query, or None."""
    if not settings.form_error_url:
        return None
    query = [("error", error.code), ("message", error.message)]
    query += [
        ("field", f"{detail.get('field')}: {detail.get('message')}") for detail in error.details
    ]
    parts = urlsplit(settings.form_error_url)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


# --- webhooks ------------------------------------------------------------------------------


def receive_form_submission(
    client: WebflowClient, settings: CreateItemsSettings, collection_id: str, event: WebhookEvent
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
        rejected = AppError(422, failed.code, failed.message, failed.details) if failed else None
        return FormReply(
            outcome=None, rejected=rejected or AppError(422, "not_created", "Not created")
        )
    logger.info("form submission %s", outcome.results[0].status, extra=extra)
    return FormReply(outcome)


# --- answers -------------------------------------------------------------------------------


def form_answer(
    request: flask.Request, settings: CreateItemsSettings, post: FormPost, reply: FormReply
) -> flask.Response:
    """A browser: 303 to `_redirect`/FORM_SUCCESS_URL, else a thank-you page; others: JSON."""
    error = reply.error()
    if error is not None:
        return form_error_answer(request, settings, error)
    if wants_json(request):
        return json_response(reply.to_json(), reply.status_code)
    location = success_location(post, settings)
    if location is not None:
        return redirect_response(location)
    if not names_html(request):  # fetch() and curl send */*: they keep JSON
        return json_response(reply.to_json(), reply.status_code)
    page = thank_you_page(back_url(request, settings), file_not_stored=reply.status_code == 207)
    return html_response(page, reply.status_code)


def form_error_answer(
    request: flask.Request, settings: CreateItemsSettings, exc: Exception
) -> flask.Response:
    """A browser: 303 to FORM_ERROR_URL with the error, else a page saying what is wrong in
    words; others: the ordinary JSON error."""
    error = None if wants_json(request) else to_app_error(exc)
    location = error_location(error, settings) if error is not None else None
    if error is None or (location is None and not names_html(request)):
        raise exc
    report_error(exc)
    if location is not None:
        return redirect_response(location)
    page = error_page(error.message, error.details, back_url(request, settings))
    return html_response(page, error.status, error.headers)


def back_url(request: flask.Request, settings: CreateItemsSettings) -> str | None:
    """The page the form was posted from (Referer), when its origin is one the function trusts
    for redirects; else None."""
    return _allowed_redirect(request.headers.get("Referer"), settings)


def html_response(
    page: str, status: int, headers: Mapping[str, str] | None = None
) -> flask.Response:
    """An HTML page answer, inert (see PAGE_HEADERS)."""
    return flask.Response(
        page,
        status=status,
        headers={**PAGE_HEADERS, **(headers or {})},
        mimetype="text/html",
    )
