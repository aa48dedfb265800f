"""drain-intake: queued form posts, webhooks and async JSON calls written to Webflow in bulk.

One HTTP entry point for everything that starts or steers the drain (docs/intake.md):

- a Cloud Storage ``finalized`` CloudEvent from Eventarc (binary or structured mode) for a new
  pending submission: drain now (other objects of the bucket are acknowledged and ignored);
- a POST from Cloud Scheduler (the sweep, every minute): drain whatever is left;
- ``GET`` with an intake API key: the counts, or ``?state=failed`` the failed set with reasons,
  ``?state=spam`` the quarantine with reasons;
- ``POST {"replay": [ids] | "all"}`` with an intake API key: queue failed submissions again;
  ``POST {"release": [ids] | "all"}``: queue quarantined ones after all.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import flask
import functions_framework

from shared.core.instance import Instance
from shared.core.log import get_logger
from shared.core.problems import InvalidInput
from shared.intake.drain import DrainGate, DrainSettings, drain, failed_entry
from shared.intake.queue import IntakeQueue, intake_queue
from shared.web.http import http_function, json_response, read_body, require_api_key

MAX_BODY_BYTES = 1_000_000
CLOUDEVENT_JSON = "application/cloudevents+json"
LISTED_STATES: tuple[Literal["failed", "spam"], ...] = ("failed", "spam")

logger = get_logger("drain-intake")
gate = DrainGate()

instance = Instance(DrainSettings)
get_settings = instance.settings
reset_state = instance.reset


def _queue(settings: DrainSettings) -> IntakeQueue:
    from shared.core.storage import get_storage

    return intake_queue(settings, get_storage())


@functions_framework.http
@http_function(methods=("GET", "POST"))
def drain_intake(request: flask.Request) -> flask.Response:
    """HTTP entry point: a storage event, the sweep, the status, or a replay."""
    settings = get_settings()
    queue = instance.keep(_queue)
    if request.method == "GET":
        require_api_key(request, settings.replay_keys, realm="drain-intake")
        for state in LISTED_STATES:
            if request.args.get("state") == state:
                return json_response({state: [failed_entry(q) for q in queue.listing(state)]})
        return json_response(queue.counts().to_json())
    event = _storage_event(request)
    body = _json_body(request) if event is None else {}
    if "replay" in body:
        require_api_key(request, settings.replay_keys, realm="drain-intake")
        return json_response({"replayed": queue.replay(_replay_ids(body["replay"], "replay"))})
    if "release" in body:
        require_api_key(request, settings.replay_keys, realm="drain-intake")
        released = queue.release_spam(_replay_ids(body["release"], "release"))
        return json_response({"released": released})
    if event is not None and not _is_pending(queue, event):
        return json_response({"ignored": event.get("name")})
    report = drain(queue, instance.client(), settings, gate=gate)
    return json_response(report.to_json())


def _storage_event(request: flask.Request) -> dict[str, Any] | None:
    """The object resource of a Cloud Storage CloudEvent, or None when this is not one."""
    if request.headers.get("ce-type"):
        return _json_body(request)
    if request.mimetype == CLOUDEVENT_JSON:
        data = _json_body(request).get("data")
        return data if isinstance(data, dict) else {}
    return None


def _json_body(request: flask.Request) -> dict[str, Any]:
    raw = read_body(request, MAX_BODY_BYTES).strip()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidInput(
            "invalid_json", "The body is not JSON", [{"field": "body", "message": "is not JSON"}]
        ) from None
    if not isinstance(body, dict):
        raise InvalidInput(
            "invalid_json",
            "The body must be an object",
            [{"field": "body", "message": "not an object"}],
        )
    return body


def _replay_ids(value: Any, field: str) -> list[str] | None:
    """None for "all", else the ids (a list of strings)."""
    if value == "all":
        return None
    if isinstance(value, list) and value and all(isinstance(i, str) and i for i in value):
        return value
    raise InvalidInput(
        "invalid_request",
        f'{field} must be "all" or a list of submission ids',
        [{"field": field, "message": 'must be "all" or a non-empty list of ids'}],
    )


def _is_pending(queue: IntakeQueue, event: dict[str, Any]) -> bool:
    """True for a new pending submission of this queue's bucket (its other objects are not)."""
    if event.get("bucket") not in (None, queue.bucket_name):
        return False
    parsed = queue.parse_name(str(event.get("name", "")))
    return parsed is not None and parsed[0] == "pending"
