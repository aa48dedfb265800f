"""upload-asset: Cloud Storage uploads become Webflow assets, attached to CMS items, exactly once."""

from __future__ import annotations

import json
from typing import Any

import flask
import functions_framework
from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import InternalServerError

from shared.core.config import ConfigError
from shared.core.instance import Instance
from shared.core.log import bind_context, get_logger, google_project, trace_context
from shared.core.storage import ClaimBusyError, StorageError
from shared.uploads.assets import ObjectRef, PermanentUploadError, UploadSettings, process_object
from shared.web.http import AppError, http_function, json_response, parse_json, require_api_key
from shared.webflow.errors import WebflowError

FINALIZED = "google.cloud.storage.object.v1.finalized"
RETRY_AFTER_SECONDS = "30"

logger = get_logger("upload-asset")


instance = Instance(UploadSettings)
get_settings = instance.settings
reset_state = instance.reset


def _event_data(event: CloudEvent) -> dict[str, Any]:
    """The event's StorageObjectData as a dict (binary-mode events may carry raw JSON bytes)."""
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return data if isinstance(data, dict) else {}


@functions_framework.cloud_event
def upload_asset(event: CloudEvent) -> None:
    """CloudEvent entry point: returning acknowledges the event, raising asks Eventarc to redeliver."""
    event_id = str(event.get("id") or "")
    trace, span_id = trace_context(None, event.get("traceparent"), google_project())
    with bind_context(event_id=event_id, trace=trace, span_id=span_id):
        if event.get("type") != FINALIZED:
            logger.info("event type ignored", extra={"type": event.get("type")})
            return
        try:
            ref = ObjectRef.from_event_data(
                _event_data(event), event_time=event.get("time"), event_id=event_id
            )
        except PermanentUploadError as exc:
            logger.error("malformed event acknowledged: %s", exc)
            return
        extra = {"object": ref.name}
        try:
            process_object(ref, get_settings())
        except ClaimBusyError as exc:
            logger.info("event left for redelivery: %s", exc, extra=extra)
            raise Redeliver from exc
        except (StorageError, WebflowError) as exc:
            extra["error"] = type(exc).__name__
            logger.warning("transient failure, event left for redelivery: %s", exc, extra=extra)
            raise Redeliver from exc
        except ConfigError as exc:
            logger.error("not configured, event left for redelivery: %s", exc, extra=extra)
            raise Redeliver from exc
        except Exception as exc:
            extra["error"] = type(exc).__name__
            logger.error("unexpected failure, event left for redelivery", exc_info=exc, extra=extra)
            raise Redeliver from exc


class Redeliver(InternalServerError):
    """Ask Eventarc to deliver the event again: a 500 whose cause has already been logged.

    Any other exception would reach Flask, which logs it again as a multi-line plain-text
    traceback on stderr; an HTTP exception is answered without that.
    """

    description = "The event was not processed; it will be redelivered."


class UploadRequest(BaseModel):
    """Body of a manual run: the object to upload (its live generation unless one is given)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    bucket: str | None = Field(default=None, min_length=3, max_length=222)
    name: str = Field(min_length=1, max_length=1024)
    generation: int | None = Field(default=None, gt=0)


@functions_framework.http
@http_function
def upload_asset_http(request: flask.Request) -> flask.Response:
    """HTTP entry point: upload one object by bucket and name (manual runs and backfills)."""
    settings = get_settings()
    require_api_key(request, settings.api_keys)
    body = parse_json(request, UploadRequest, settings.upload_max_body_bytes)
    bucket = body.bucket or settings.upload_bucket
    if bucket is None:
        raise AppError(
            400,
            "invalid_request",
            "bucket is required (no UPLOAD_BUCKET is configured)",
            [{"field": "bucket", "message": "is required"}],
        )
    if settings.upload_bucket and bucket != settings.upload_bucket:
        raise AppError(
            403,
            "bucket_not_allowed",
            f"Only objects of {settings.upload_bucket} are handled",
            [{"field": "bucket", "message": "is not the configured UPLOAD_BUCKET"}],
        )
    ref = ObjectRef(bucket=bucket, name=body.name, generation=body.generation)
    try:
        outcome = process_object(ref, settings)
    except ClaimBusyError as exc:
        raise AppError(
            409, "in_progress", str(exc), headers={"Retry-After": RETRY_AFTER_SECONDS}
        ) from exc
    except StorageError as exc:
        raise AppError(
            503,
            "storage_unavailable",
            "Cloud Storage failed; retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from exc
    if outcome.status == "rejected":
        # An error like every other: code and message first, the outcome's fields beside them.
        return json_response(
            {"code": "rejected", "message": outcome.reason or "rejected", **outcome.to_json()}, 422
        )
    return json_response(outcome.to_json(), 200)
