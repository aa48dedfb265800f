"""update-items: partial updates of CMS items addressed by id or slug, staged or live."""

from __future__ import annotations

import functools

import flask
import functions_framework

from shared.config import load_settings
from shared.http import http_function, json_response, parse_json, require_api_key
from shared.updates import UpdateItemsRequest, UpdateItemsSettings, apply_updates
from shared.webflow import WebflowClient, get_client


@functools.cache
def get_settings() -> UpdateItemsSettings:
    """This instance's settings, read once."""
    return load_settings(UpdateItemsSettings)


def webflow_client() -> WebflowClient:
    """The instance's shared Webflow client."""
    return get_client(get_settings())


def reset_state() -> None:
    """Forget cached settings and clients (tests change the environment between runs)."""
    get_settings.cache_clear()
    get_client.cache_clear()


@functions_framework.http
@http_function
def update_items(request: flask.Request) -> flask.Response:
    """HTTP entry point: apply the body's item patches and answer per item, in input order."""
    settings = get_settings()
    require_api_key(request, settings.api_keys)
    body = parse_json(request, UpdateItemsRequest, settings.update_items_max_body_bytes)
    outcome = apply_updates(webflow_client(), body, settings)
    return json_response(outcome.to_json(), outcome.status_code, outcome.headers)
