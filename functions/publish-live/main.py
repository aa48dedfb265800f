"""publish-live: publish staged CMS changes, for Cloud Scheduler (OIDC) or a caller with a key."""

from __future__ import annotations

import flask
import functions_framework

from shared.cms.publishing import (
    PublishRequest,
    PublishSettings,
    SitePublishGate,
    publish,
)
from shared.core.instance import Instance
from shared.core.log import get_logger
from shared.web.http import (
    http_function,
    json_response,
    parse_json,
    read_body,
    require_api_key,
    scheduler_invoker,
)

MAX_BODY_BYTES = 1_000_000

logger = get_logger("publish-live")
site_gate = SitePublishGate()


# Short retries and the token's shared pacing: a rate-limited run stops, the next one goes on.
instance = Instance(PublishSettings, client_options=PublishSettings.client_options)
get_settings = instance.settings
reset_state = instance.reset


def _authorize(request: flask.Request, settings: PublishSettings) -> None:
    """Accept an allowed scheduler's verified OIDC token, else require one of the API keys."""
    invoker = scheduler_invoker(request, settings)
    if invoker is not None:
        logger.info("invoked by scheduler", extra={"invoker": invoker})
        return
    require_api_key(request, settings.api_keys)


def _parse(request: flask.Request) -> PublishRequest:
    """An empty body (what a scheduler sends) means: publish everything pending."""
    if not read_body(request, MAX_BODY_BYTES).strip():
        return PublishRequest()
    return parse_json(request, PublishRequest, MAX_BODY_BYTES)


@functions_framework.http
@http_function
def publish_live(request: flask.Request) -> flask.Response:
    """HTTP entry point: publish the requested items, every pending item, or the site."""
    settings = get_settings()
    _authorize(request, settings)
    report = publish(instance.client(), _parse(request), settings, site_gate)
    return json_response(report.to_json())
