"""Unit tests of shared.webflow.errors and shared.webflow.models."""

from __future__ import annotations

import pytest

from shared.webflow.errors import (
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    WebflowAPIError,
    WebflowConnectionError,
    WebflowError,
    WebflowTimeoutError,
    error_for_status,
)
from shared.webflow.models import AssetUpload, Collection, Item, ItemList, ItemResult, NewItem, Site


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, WebflowAPIError),
    ],
)
def test_error_class_by_status(status: int, cls: type[WebflowAPIError]) -> None:
    err = error_for_status(status, None, None)

    assert type(err) is cls
    assert isinstance(err, WebflowError)
    assert err.status_code == status


def test_duplicate_slugs_parsed_from_details() -> None:
    err = error_for_status(
        400,
        "validation_error",
        "Validation Error",
        [
            {"param": "slug", "description": "Unique value is already in database: 'a-b'"},
            {"param": "fieldData.name", "description": "Field is required"},
            {"param": "slug", "description": "Unique value is already in database: 'c'"},
        ],
    )

    assert err.is_duplicate_slug
    assert err.duplicate_slugs == ["a-b", "c"]
    assert err.is_validation_error


def test_plain_validation_error_is_not_duplicate() -> None:
    err = error_for_status(400, "validation_error", "bad", [{"param": "name", "description": "x"}])

    assert not err.is_duplicate_slug
    assert err.duplicate_slugs == []


def test_str_carries_status_code_details_and_request_id() -> None:
    err = error_for_status(400, "validation_error", "Validation Error", [{"param": "p"}], "req-1")

    assert (
        str(err)
        == "400 validation_error: Validation Error details=[{'param': 'p'}] (request id req-1)"
    )


def test_default_codes_when_body_has_none() -> None:
    assert error_for_status(429, None, None).code == "too_many_requests"
    assert error_for_status(502, None, None).code == "internal_error"


def test_timeout_is_a_connection_error() -> None:
    assert issubclass(WebflowTimeoutError, WebflowConnectionError)
    assert str(WebflowTimeoutError()) == "Request to Webflow timed out"


def test_item_reads_camel_case_and_keeps_extra_fields() -> None:
    item = Item.model_validate(
        {
            "id": "i1",
            "cmsLocaleId": "loc",
            "lastPublished": None,
            "isDraft": True,
            "fieldData": {"name": "N", "slug": "n"},
            "brandNew": 1,
        }
    )

    assert item.cms_locale_id == "loc"
    assert item.is_draft is True
    assert item.slug == "n"
    dumped = item.model_dump(by_alias=True)
    assert dumped["fieldData"] == {"name": "N", "slug": "n"}
    assert dumped["brandNew"] == 1


def test_new_item_dumps_with_aliases_and_accepts_snake_case() -> None:
    new = NewItem(field_data={"name": "a", "slug": "a"}, is_draft=True)

    assert new.to_api() == {
        "fieldData": {"name": "a", "slug": "a"},
        "isDraft": True,
        "isArchived": False,
    }
    assert NewItem.model_validate({"fieldData": {}, "isDraft": True}).is_draft


def test_collection_field_lookup() -> None:
    collection = Collection.model_validate(
        {
            "id": "c",
            "displayName": "Posts",
            "singularName": "Post",
            "slug": "posts",
            "fields": [
                {
                    "id": "f",
                    "slug": "name",
                    "displayName": "Name",
                    "type": "PlainText",
                    "isRequired": True,
                }
            ],
        }
    )

    assert collection.field("name").is_required  # type: ignore[union-attr]
    assert collection.field("nope") is None


def test_site_locales() -> None:
    site = Site.model_validate(
        {
            "id": "s",
            "displayName": "S",
            "shortName": "s",
            "locales": {
                "primary": {"id": "l1", "cmsLocaleId": "c1", "tag": "en"},
                "secondary": [{"id": "l2", "cmsLocaleId": "c2"}],
            },
        }
    )

    assert [locale.cms_locale_id for locale in site.locales.all()] == ["c1", "c2"]


def test_asset_upload_preserves_detail_order() -> None:
    details = {"acl": "public-read", "bucket": "b", "X-Amz-Date": "d", "key": "k", "Policy": "p"}

    upload = AssetUpload.model_validate(
        {"id": "a", "uploadUrl": "http://x/_s3/b", "uploadDetails": details}
    )

    assert list(upload.upload_details) == list(details)


def test_item_list_defaults() -> None:
    assert ItemList.model_validate({"items": []}).pagination.total == 0


def test_item_result_ok() -> None:
    assert ItemResult(index=0, status="created").ok
    assert not ItemResult(index=0, status="failed").ok
