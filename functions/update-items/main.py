"""update-items: partial updates of CMS items addressed by id or slug, staged or live."""

from __future__ import annotations

import flask
import functions_framework

from shared.cms.updates import UpdateItemsRequest, UpdateItemsSettings, apply_updates
from shared.core.instance import Instance
from shared.web.http import http_function, json_response, parse_json, require_api_key

instance = Instance(UpdateItemsSettings)
get_settings = instance.settings
reset_state = instance.reset


@functions_framework.http
@http_function
def update_items(request: flask.Request) -> flask.Response:
    """HTTP entry point: apply the body's item patches and answer per item, in input order."""
    settings = get_settings()
    require_api_key(request, settings.api_keys)
    body = parse_json(request, UpdateItemsRequest, settings.update_items_max_body_bytes)
    outcome = apply_updates(instance.client(), body, settings)
    return json_response(outcome.to_json(), outcome.status_code, outcome.headers)
