"""create-items: JSON calls, website form posts and Webflow form webhooks become CMS items."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import flask
import functions_framework

from shared.cms.items import CreateItemsRequest, create_from_request
from shared.core.config import ConfigError
from shared.core.instance import Instance
from shared.core.log import get_logger
from shared.core.problems import Unavailable
from shared.intake.settings import CreateItemsSettings
from shared.web.forms import (
    FormPost,
    FormReply,
    read_form_post,
    receive_form_submission,
    submit_form,
    write_to_bucket,
)
from shared.web.http import (
    FORM_TYPES,
    ClientRateLimiter,
    caller_digest,
    client_address,
    form_answer,
    form_error_answer,
    http_function,
    json_response,
    parse_form,
    read_body,
    read_json,
    require_allowed_origin,
    require_api_key,
    require_key_in,
    validate_body,
)
from shared.web.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_webhook, verify_signature

if TYPE_CHECKING:
    from shared.intake.queue import IntakeQueue, SchemaSource
    from shared.web.spam import CaptchaVerifier

T = TypeVar("T")

logger = get_logger("create-items")
instance = Instance(CreateItemsSettings)
get_settings = instance.settings
reset_state = instance.reset


def _form_rate_limiter(settings: CreateItemsSettings) -> ClientRateLimiter:
    """The instance's per-client limiter of form posts."""
    return ClientRateLimiter(settings.form_rate_limit_per_minute)


def _queue(settings: CreateItemsSettings) -> IntakeQueue:
    """The instance's intake queue (shared/intake/queue.py; loaded by the queueing paths alone)."""
    from shared.core.storage import get_storage
    from shared.intake.queue import intake_queue

    return intake_queue(settings, get_storage())


def _schemas(settings: CreateItemsSettings) -> SchemaSource:
    """Schemas for intake checks, never waiting long on Webflow."""
    from shared.intake.queue import SchemaSource

    return SchemaSource(instance.client(), settings.intake_schema_wait_seconds)


def _kept(queue: Callable[[IntakeQueue, SchemaSource], T]) -> T:
    """Run a queueing step with the instance's queue and schemas; Cloud Storage failing is the
    one error a visitor sees: 503 with Retry-After, and nothing was queued."""
    from shared.core.storage import StorageError

    try:
        return queue(instance.keep(_queue), instance.keep(_schemas))
    except StorageError as exc:
        raise Unavailable(
            "storage_unavailable", "The submission could not be kept; try again", retry_after=5
        ) from exc


def prefers_async(request: flask.Request) -> bool:
    """True when the caller sent ``Prefer: respond-async`` (RFC 7240)."""
    preferences = ",".join(request.headers.getlist("Prefer")).lower()
    return any(part.split(";")[0].strip() == "respond-async" for part in preferences.split(","))


def form_collection_id(settings: CreateItemsSettings) -> str:
    """The collection form posts and webhooks write to."""
    if not settings.webflow_collection_id:
        raise ConfigError("WEBFLOW_COLLECTION_ID is required for form posts and webhooks")
    return settings.webflow_collection_id


@functions_framework.http
@http_function(methods=("POST",), allowed_origins=lambda: get_settings().origins)
def create_items(request: flask.Request) -> flask.Response:
    """HTTP entry point: a signed webhook, a form post, or a JSON call with an API key."""
    settings = get_settings()
    if SIGNATURE_HEADER in request.headers or TIMESTAMP_HEADER in request.headers:
        return _webhook(request, settings)
    if request.mimetype in FORM_TYPES:
        return _form_post(request, settings)
    return _json_call(request, settings)


def _json_call(request: flask.Request, settings: CreateItemsSettings) -> flask.Response:
    """Authenticated JSON: up to MAX_ITEMS_PER_CALL items, answered per item; or a sync."""
    require_api_key(request, [*settings.api_keys, *settings.sync_keys], realm="create-items")
    data = read_json(request, settings.max_body_bytes)
    if isinstance(data, dict) and "sync" in data:
        # A sync patches, archives, deletes and publishes: a key that may only create cannot.
        require_key_in(
            request,
            settings.sync_keys,
            code="sync_not_allowed",
            message="This API key may not sync: it is not one of SYNC_API_KEYS",
        )
        return _sync_call(data, settings)
    require_key_in(
        request,
        settings.api_keys,
        code="create_not_allowed",
        message="This API key may not create items: it is not one of CREATE_ITEMS_API_KEYS",
    )
    body = validate_body(CreateItemsRequest, data)
    if prefers_async(request):
        from shared.intake.enqueue import queue_json_call

        key = request.headers.get("Idempotency-Key")
        caller = caller_digest(request)
        queued = _kept(
            lambda queue, schemas: queue_json_call(queue, schemas, settings, body, key, caller)
        )
        return json_response(
            {"status": "queued", "id": queued}, 202, {"Preference-Applied": "respond-async"}
        )
    outcome = create_from_request(instance.client(), settings, body)
    return json_response(outcome.to_json(), outcome.status_code, outcome.headers)


def _sync_call(data: dict[str, Any], settings: CreateItemsSettings) -> flask.Response:
    """Create-or-update by key (shared/cms/sync.py): created, updated, unchanged, failed per item."""
    from shared.cms.items import requested_collection
    from shared.cms.sync import SyncRequest, sync_items

    body = validate_body(SyncRequest, data)
    entries = [item.model_dump(by_alias=True, exclude_none=True) for item in body.items]
    outcome = sync_items(
        instance.client(),
        requested_collection(settings, body),
        entries,
        settings.mapper(),
        body.sync,
        default_draft=settings.create_as_draft,
    )
    return json_response(outcome.to_json(), outcome.status_code, outcome.headers)


def _captcha(settings: CreateItemsSettings) -> CaptchaVerifier | None:
    """The instance's challenge verifier (FORM_CAPTCHA), or None."""
    captcha = settings.captcha()
    if captcha is None:
        return None
    from shared.web.spam import CaptchaVerifier

    return CaptchaVerifier(captcha)


def _form_post(request: flask.Request, settings: CreateItemsSettings) -> flask.Response:
    """A browser form: origin, rate limit, challenge and spam rules, files to the bucket, then a
    redirect or JSON."""
    from shared.web.spam import judge  # the form path's alone

    require_allowed_origin(request, settings.origins)  # JSON 403: not a redirect to our pages
    try:
        client = client_address(request, settings.form_trusted_proxies)
        instance.keep(_form_rate_limiter).check(client)
        form = parse_form(
            request,
            settings.max_body_bytes,
            max_text_bytes=settings.form_max_text_bytes,
            max_fields=settings.form_max_fields,
        )
        verifier = instance.keep(_captcha)
        token_field = _token_field(verifier)
        post = read_form_post(form, settings.honeypot_field, token_field)
        collection_id = form_collection_id(settings)
        spam = judge(
            post.fields,
            honeypot=post.is_spam,
            token=post.captcha_token,
            remote_ip=client,
            verifier=verifier,
            rules=instance.keep(CreateItemsSettings.spam_rules),
        )
        if spam is not None:
            reply = _quarantined(settings, collection_id, post, spam)
        elif settings.form_intake == "queue":
            from shared.intake.enqueue import queue_form

            reply = _kept(
                lambda queue, schemas: queue_form(queue, schemas, settings, collection_id, post)
            )
        else:
            reply = submit_form(instance.client(), settings, collection_id, post, write_to_bucket)
    except Exception as exc:  # noqa: BLE001 - browsers go to FORM_ERROR_URL, others get JSON
        return form_error_answer(request, settings, exc)
    return form_answer(request, settings, post, reply)


def _token_field(verifier: CaptchaVerifier | None) -> str | None:
    if verifier is None:
        return None
    from shared.web.spam import TOKEN_FIELDS

    return TOKEN_FIELDS[verifier.settings.provider]


def _quarantined(
    settings: CreateItemsSettings, collection_id: str, post: FormPost, reason: str
) -> FormReply:
    """A post judged as spam, kept in the intake's quarantine (dropped without a bucket)."""
    if not (settings.intake_bucket or settings.upload_bucket):
        logger.info("spam dropped: no bucket to keep it in", extra={"reason": reason})
        return FormReply(outcome=None)
    from shared.intake.enqueue import quarantine_form

    return _kept(
        lambda queue, _schemas: quarantine_form(queue, settings, collection_id, post, reason)
    )


def _webhook(request: flask.Request, settings: CreateItemsSettings) -> flask.Response:
    """A Webflow form_submission delivery, verified over the raw body before anything else."""
    body = read_body(request, settings.max_body_bytes)
    verify_signature(
        body,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
        settings.webhook_secrets,
    )
    event = parse_webhook(body)
    collection_id = form_collection_id(settings)
    if settings.form_intake == "queue":
        from shared.intake.enqueue import queue_webhook

        reply = _kept(
            lambda queue, schemas: queue_webhook(queue, schemas, settings, collection_id, event)
        )
    else:
        reply = receive_form_submission(instance.client(), settings, collection_id, event)
    return json_response(reply.to_json(), reply.status_code)
