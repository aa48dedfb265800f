"""Tests of shared/updates.py: request shape, settings, answer, orchestration on the sandbox."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import load_settings
from shared.models import ErrorInfo
from shared.updates import (
    ItemPatch,
    UpdateItemsRequest,
    UpdateItemsSettings,
    UpdateResult,
    answer_status,
)

TOKEN = "wf-token-for-tests"
ITEM_ID = "a" * 24


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
    patch = ItemPatch.model_validate({"slug": "hello", "cmsLocaleId": "l2", "isArchived": True})
    assert (patch.slug, patch.cms_locale_id, patch.is_archived) == ("hello", "l2", True)


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
        UpdateItemsSettings, webflow_api_token=TOKEN, create_items_api_keys="k1, k2"
    )
    assert settings.api_keys == ["k1", "k2"]


def test_own_api_keys_win_over_create_items_keys() -> None:
    settings = load_settings(
        UpdateItemsSettings,
        webflow_api_token=TOKEN,
        create_items_api_keys="k1",
        update_items_api_keys="u1",
    )
    assert settings.api_keys == ["u1"]


# --- answer --------------------------------------------------------------------------------------


def test_all_updated_answers_200() -> None:
    assert answer_status([UpdateResult(0, "updated", id=ITEM_ID)]) == 200


def test_any_item_not_updated_answers_207() -> None:
    results = [UpdateResult(0, "updated", id=ITEM_ID), UpdateResult(1, "not_found", slug="gone")]
    assert answer_status(results) == 207


def test_result_json_names_the_error() -> None:
    error = ErrorInfo(code="not_found", message="No item with slug 'gone'", status_code=404)
    body = UpdateResult(1, "not_found", slug="gone", error=error).to_json()
    assert body == {
        "index": 1,
        "status": "not_found",
        "slug": "gone",
        "error": {"code": "not_found", "message": "No item with slug 'gone'"},
    }
