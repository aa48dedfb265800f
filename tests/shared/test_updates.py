"""Tests of shared/cms/updates.py: request shape, settings, answer, orchestration on the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shared.cms.updates import (
    ItemPatch,
    UpdateItemsRequest,
    UpdateItemsSettings,
    UpdateOutcome,
    UpdateResult,
    apply_updates,
)
from shared.core.config import ConfigError, load_settings
from shared.webflow import WebflowClient
from shared.webflow.errors import RateLimitError
from shared.webflow.models import ErrorInfo
from tests.conftest import Sandbox
from tests.items_support import create_items, post_fields, publish_items

TOKEN = "wf-token-for-tests"
ITEM_ID = "a" * 24
LOCALE_ID = "b" * 24


# --- request shape -------------------------------------------------------------------------------


def test_patch_by_id_keeps_only_the_given_fields() -> None:
    patch = ItemPatch.model_validate({"id": ITEM_ID, "fieldData": {"rating": 4}})
    assert (patch.id, patch.field_data, patch.is_draft, patch.is_archived) == (
        ITEM_ID,
        {"rating": 4},
        None,
        None,
    )


def test_patch_by_slug_with_locale() -> None:
    patch = ItemPatch.model_validate(
        {"slug": "hello", "cmsLocaleId": LOCALE_ID, "isArchived": True}
    )
    assert (patch.slug, patch.cms_locale_id, patch.is_archived) == ("hello", LOCALE_ID, True)


@pytest.mark.parametrize(
    "body",
    [
        {"fieldData": {"name": "x"}},
        {"id": ITEM_ID, "slug": "hello", "fieldData": {"name": "x"}},
        {"id": ITEM_ID},
        {"id": "", "fieldData": {"name": "x"}},
        {"id": ITEM_ID, "fieldData": {"name": "x"}, "colour": "red"},
    ],
)
def test_malformed_patches_are_rejected(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ItemPatch.model_validate(body)


def test_request_needs_at_least_one_item() -> None:
    with pytest.raises(ValidationError):
        UpdateItemsRequest.model_validate({"items": []})


# --- settings ------------------------------------------------------------------------------------


def test_api_keys_fall_back_to_create_items_keys() -> None:
    settings = load_settings(
        UpdateItemsSettings,
        webflow_api_token=TOKEN,
        create_items_api_keys="key-one-0123456789, key-two-0123456789",
    )
    assert settings.api_keys == ["key-one-0123456789", "key-two-0123456789"]


def test_own_api_keys_win_over_create_items_keys() -> None:
    settings = load_settings(
        UpdateItemsSettings,
        webflow_api_token=TOKEN,
        create_items_api_keys="key-one-0123456789",
        update_items_api_keys="own-key-0123456789",
    )
    assert settings.api_keys == ["own-key-0123456789"]


def test_malformed_field_map_fails_at_start_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="FIELD_MAP"):
        load_settings(UpdateItemsSettings, webflow_api_token=TOKEN, field_map="{not json")


# --- answer --------------------------------------------------------------------------------------


def _outcome(*statuses: str, code: str = "not_found") -> UpdateOutcome:
    error = ErrorInfo(code=code, message="m")
    return UpdateOutcome(
        [
            UpdateResult(n, status, error=None if status == "updated" else error)  # type: ignore[arg-type]
            for n, status in enumerate(statuses)
        ]
    )


@pytest.mark.parametrize(
    ("statuses", "code", "expected"),
    [
        (("updated", "updated"), "", 200),
        (("updated", "not_found"), "not_found", 207),
        (("not_found", "not_found"), "not_found", 404),
        (("failed", "not_found"), "validation_error", 422),
        (("failed",), "upstream_unavailable", 503),
    ],
)
def test_answer_status_says_how_many_were_updated(
    statuses: tuple[str, ...], code: str, expected: int
) -> None:
    assert _outcome(*statuses, code=code).status_code == expected


def test_error_answer_carries_a_code_and_the_counts() -> None:
    body = _outcome("not_found", code="not_found").to_json()
    assert (body["code"], body["updated"], body["notFound"], body["failed"]) == (
        "not_found",
        0,
        1,
        0,
    )


def test_result_json_names_the_error() -> None:
    error = ErrorInfo(code="not_found", message="No item with slug 'gone'", status_code=404)
    body = UpdateResult(1, "not_found", slug="gone", error=error).to_json()
    assert body == {
        "index": 1,
        "status": "not_found",
        "slug": "gone",
        "error": {"code": "not_found", "message": "No item with slug 'gone'"},
    }


# --- orchestration against the sandbox ------------------------------------------------------------


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to a real transport and keeps each one's method, path and JSON body."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.sent: list[tuple[str, str, Any]] = []
        self.refuse_patches_from: int | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        patches = sum(method == "PATCH" for method, _, _ in self.sent)
        if request.method == "PATCH" and patches >= (self.refuse_patches_from or patches + 1):
            # Webflow's rate-limit answer, as another client of the token would cause it.
            error = {"code": "too_many_requests", "message": "Too Many Requests", "details": []}
            return httpx.Response(429, json=error, headers={"Retry-After": "30"})
        return self._inner.handle_request(request)

    def patched(self) -> list[dict[str, Any]]:
        """Every item body sent in a PATCH, in order."""
        return [
            item for method, _, body in self.sent if method == "PATCH" for item in body["items"]
        ]


@pytest.fixture
def recorder() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def client(sandbox: Sandbox, recorder: RecordingTransport) -> Iterator[WebflowClient]:
    with WebflowClient(
        sandbox.token, base_url=sandbox.api_base_url, transport=recorder, max_retries=0
    ) as client:
        yield client


def _settings(sandbox: Sandbox) -> UpdateItemsSettings:
    return load_settings(
        UpdateItemsSettings,
        webflow_api_token=sandbox.token,
        webflow_api_base_url=sandbox.api_base_url,
        webflow_collection_id=sandbox.collections["posts"],
    )


def _request(*items: dict[str, Any], live: bool = False) -> UpdateItemsRequest:
    return UpdateItemsRequest.model_validate({"items": list(items), "live": live})


def test_unchanged_slug_of_an_item_addressed_by_slug_is_not_resent(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange
    with sandbox.api() as api:
        create_items(api, sandbox.collections["posts"], post_fields("post", 1))
    # Act
    request = _request({"slug": "post-0", "fieldData": {"slug": "post-0", "name": "Renamed"}})
    [result] = apply_updates(client, request, _settings(sandbox)).results
    # Assert
    assert result.status == "updated"
    assert [item["fieldData"] for item in recorder.patched()] == [{"name": "Renamed"}]


def test_unchanged_slug_of_an_item_addressed_by_id_is_not_resent(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange
    with sandbox.api() as api:
        [item] = create_items(api, sandbox.collections["posts"], post_fields("post", 1))
    # Act
    request = _request({"id": item["id"], "fieldData": {"slug": "post-0", "summary": "new"}})
    [result] = apply_updates(client, request, _settings(sandbox)).results
    # Assert
    assert result.status == "updated"
    assert [body["fieldData"] for body in recorder.patched()] == [{"summary": "new"}]


def test_a_new_slug_is_sent(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange
    with sandbox.api() as api:
        [item] = create_items(api, sandbox.collections["posts"], post_fields("post", 1))
    # Act
    request = _request({"id": item["id"], "fieldData": {"slug": "post-zero"}})
    [result] = apply_updates(client, request, _settings(sandbox)).results
    # Assert
    assert (result.status, result.slug) == ("updated", "post-zero")
    assert [body["fieldData"] for body in recorder.patched()] == [{"slug": "post-zero"}]


def test_one_never_published_item_among_eight_costs_a_few_extra_live_patches(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange: eight items, all published but the sixth
    posts = sandbox.collections["posts"]
    with sandbox.api() as api:
        items = create_items(api, posts, post_fields("post", 8))
        publish_items(api, posts, [item["id"] for n, item in enumerate(items) if n != 5])
    # Act
    request = _request(
        *({"id": item["id"], "fieldData": {"rating": 2}} for item in items), live=True
    )
    results = apply_updates(client, request, _settings(sandbox)).results
    # Assert: all live; the halving took 1 + 2*log2(8) live PATCHes at most
    assert [(r.status, r.live) for r in results] == [("updated", True)] * 8
    live_patches = [
        path for method, path, _ in recorder.sent if method == "PATCH" and path.endswith("/live")
    ]
    assert len(live_patches) <= 7
    # The sandbox's 409 names no item by position (only its message does, which is not read):
    # halving pins it, then the sixth is staged and published
    writes = [
        (method, path.rsplit("/", 1)[-1], len(body.get("items") or body.get("itemIds")))
        for method, path, body in recorder.sent
        if method != "GET"
    ]
    assert sorted(size for method, path, size in writes if path == "live") == [1, 1, 2, 2, 4, 4, 8]
    assert writes[-2:] == [("PATCH", "items", 1), ("POST", "publish", 1)]


def test_rate_limit_before_anything_is_written_fails_the_whole_call(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange
    with sandbox.api() as api:
        [item] = create_items(api, sandbox.collections["posts"], post_fields("post", 1))
    recorder.refuse_patches_from = 1
    # Act / Assert
    with pytest.raises(RateLimitError):
        apply_updates(client, _request({"id": item["id"], "isArchived": True}), _settings(sandbox))


def test_rate_limit_mid_call_reports_the_unsent_items_with_retry_after(
    sandbox: Sandbox, client: WebflowClient, recorder: RecordingTransport
) -> None:
    # Arrange: 150 items need two PATCHes; the second is refused
    with sandbox.api() as api:
        items = create_items(api, sandbox.collections["posts"], post_fields("post", 150))
    recorder.refuse_patches_from = 2
    # Act
    request = _request(*({"id": item["id"], "isArchived": True} for item in items))
    outcome = apply_updates(client, request, _settings(sandbox))
    # Assert
    assert (outcome.count("updated"), outcome.count("failed")) == (100, 50)
    assert {r.error.code for r in outcome.results[100:] if r.error} == {"upstream_unavailable"}
    assert (outcome.status_code, outcome.headers) == (207, {"Retry-After": "30"})
