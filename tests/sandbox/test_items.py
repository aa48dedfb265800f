"""Items: creation, validation, slugs, states, localization, filters and sorting."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NEWS = "8f6c1a2b3c4d5e6f7a8b9c01"


def _details(response: httpx.Response) -> list[dict[str, str]]:
    body = response.json()
    assert set(body) == {"code", "message", "externalReference", "details"}
    return body["details"]


def _total(api: httpx.Client, collection_id: str) -> int:
    return api.get(f"/collections/{collection_id}/items").json()["pagination"]["total"]


def test_create_single_item_answers_202_with_object_id_and_timestamps(
    api: httpx.Client, posts: str
) -> None:
    body = {
        "isDraft": True,
        "isArchived": False,
        "fieldData": {"name": "Hello", "slug": "hello", "category": NEWS},
    }

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 202
    item = response.json()
    assert OBJECT_ID.match(item["id"])
    assert TIMESTAMP.match(item["createdOn"])
    assert TIMESTAMP.match(item["lastUpdated"])
    assert item["lastPublished"] is None
    assert item["isDraft"] is True
    assert item["fieldData"] == {"name": "Hello", "slug": "hello", "category": NEWS}


def test_create_several_items_answers_202_with_items(api: httpx.Client, posts: str) -> None:
    body = {"items": [{"fieldData": {"name": f"P{i}", "slug": f"p-{i}"}} for i in range(3)]}

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 202
    assert [item["fieldData"]["slug"] for item in response.json()["items"]] == ["p-0", "p-1", "p-2"]
    assert _total(api, posts) == 3


def test_duplicate_slug_is_a_validation_error_naming_the_slug(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    create_post("taken")

    response = api.post(
        f"/collections/{posts}/items", json={"fieldData": {"name": "Again", "slug": "taken"}}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert _details(response) == [
        {"param": "slug", "description": "Unique value is already in database: 'taken'"}
    ]


def test_multi_item_request_reports_each_duplicate_and_applies_nothing(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    create_post("one")
    body = {
        "items": [
            {"fieldData": {"name": "New", "slug": "fresh"}},
            {"fieldData": {"name": "Dup", "slug": "one"}},
            {"fieldData": {"name": "Twin", "slug": "twin"}},
            {"fieldData": {"name": "Twin", "slug": "twin"}},
        ]
    }

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 400
    assert [d["description"] for d in _details(response)] == [
        "Unique value is already in database: 'one'",
        "Unique value is already in database: 'twin'",
    ]
    assert _total(api, posts) == 1


def test_same_slug_is_allowed_in_another_collection(
    api: httpx.Client, sandbox: Sandbox, create_post: Callable[..., dict[str, Any]]
) -> None:
    create_post("shared")
    gallery = sandbox.collections["gallery"]
    body = {
        "fieldData": {"name": "G", "slug": "shared", "image": {"url": "https://img.example/a.png"}}
    }

    assert api.post(f"/collections/{gallery}/items", json=body).status_code == 202


def test_unknown_field_is_rejected_with_its_name(api: httpx.Client, posts: str) -> None:
    body = {"fieldData": {"name": "X", "slug": "x", "colour": "red"}}

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 400
    assert {"param": "colour", "description": "Field not described in schema"} in _details(response)


def test_more_than_100_items_is_rejected_and_nothing_applied(api: httpx.Client, posts: str) -> None:
    body = {"items": [{"fieldData": {"name": f"P{i}", "slug": f"p-{i}"}} for i in range(101)]}

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert _total(api, posts) == 0


def test_exactly_100_items_are_accepted(api: httpx.Client, posts: str) -> None:
    body = {"items": [{"fieldData": {"name": f"P{i}", "slug": f"p-{i}"}} for i in range(100)]}

    assert api.post(f"/collections/{posts}/items", json=body).status_code == 202
    assert _total(api, posts) == 100


def test_one_invalid_item_fails_the_whole_request(api: httpx.Client, posts: str) -> None:
    body = {
        "items": [
            {"fieldData": {"name": "Ok", "slug": "ok"}},
            {"fieldData": {"name": "Bad", "slug": "bad", "rating": "five"}},
        ]
    }

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 400
    assert _details(response) == [{"param": "rating", "description": "Must be a number"}]
    assert _total(api, posts) == 0


@pytest.mark.parametrize(
    ("collection", "fields", "param"),
    [
        ("posts", {"name": "N"}, "slug"),
        ("posts", {"slug": "n"}, "name"),
        ("posts", {"name": "N", "slug": "Not A Slug"}, "slug"),
        ("posts", {"name": "N", "slug": "n", "summary": "x" * 257}, "summary"),
        ("posts", {"name": "N", "slug": "n", "featured": "yes"}, "featured"),
        ("posts", {"name": "N", "slug": "n", "published-on": "yesterday"}, "published-on"),
        ("posts", {"name": "N", "slug": "n", "category": "News"}, "category"),
        ("posts", {"name": "N", "slug": "n", "rating": True}, "rating"),
        ("posts", {"name": "N", "slug": "n", "body": 5}, "body"),
        ("submissions", {"name": "N", "slug": "n", "message": "hi"}, "email"),
        ("submissions", {"name": "N", "slug": "n", "email": "nope", "message": "hi"}, "email"),
        ("submissions", {"name": "N", "slug": "n", "email": "a@b.co"}, "message"),
        (
            "submissions",
            {"name": "N", "slug": "n", "email": "a@b.co", "message": "x" * 5001},
            "message",
        ),
        (
            "submissions",
            {"name": "N", "slug": "n", "email": "a@b.co", "message": "m", "source": "ftp:/x"},
            "source",
        ),
    ],
)
def test_field_values_are_checked_against_the_schema(
    api: httpx.Client, sandbox: Sandbox, collection: str, fields: dict[str, Any], param: str
) -> None:
    response = api.post(
        f"/collections/{sandbox.collections[collection]}/items", json={"fieldData": fields}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert param in [detail["param"] for detail in _details(response)]


def test_valid_values_of_every_type_are_accepted(api: httpx.Client, posts: str) -> None:
    fields = {
        "name": "All",
        "slug": "all",
        "summary": "s",
        "body": "<p>b</p>",
        "hero": {"url": "https://img.example/h.png", "alt": "hero"},
        "featured": True,
        "published-on": "2025-07-01T10:00:00.000Z",
        "category": NEWS,
        "rating": 4.5,
    }

    response = api.post(f"/collections/{posts}/items", json={"fieldData": fields})

    assert response.status_code == 202, response.text
    assert response.json()["fieldData"]["hero"]["url"] == "https://img.example/h.png"


def test_invalid_image_is_dropped_when_skip_invalid_files(api: httpx.Client, posts: str) -> None:
    body = {"fieldData": {"name": "I", "slug": "i", "hero": {"url": "not a url"}}}

    response = api.post(f"/collections/{posts}/items", json=body)

    assert response.status_code == 202
    assert "hero" not in response.json()["fieldData"]


def test_invalid_image_fails_when_skip_invalid_files_is_false(
    api: httpx.Client, posts: str
) -> None:
    body = {"fieldData": {"name": "I", "slug": "i", "hero": {"url": "not a url"}}}

    response = api.post(
        f"/collections/{posts}/items", params={"skipInvalidFiles": "false"}, json=body
    )

    assert response.status_code == 400
    assert [d["param"] for d in _details(response)] == ["hero"]


def test_required_image_dropped_as_invalid_still_fails(api: httpx.Client, sandbox: Sandbox) -> None:
    gallery = sandbox.collections["gallery"]
    body = {"fieldData": {"name": "G", "slug": "g", "image": "nope"}}

    response = api.post(f"/collections/{gallery}/items", json=body)

    assert response.status_code == 400
    assert [d["param"] for d in _details(response)] == ["image"]


def test_publish_sets_last_published_and_the_live_item(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("to-publish")

    response = api.post(f"/collections/{posts}/items/publish", json={"itemIds": [item["id"]]})

    assert response.status_code == 202
    assert response.json() == {"publishedItemIds": [item["id"]], "errors": []}
    live = api.get(f"/collections/{posts}/items/{item['id']}/live").json()
    assert TIMESTAMP.match(live["lastPublished"])
    assert live["isDraft"] is False


def test_publish_reports_unknown_ids_inside_a_202(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("known")
    missing = "0" * 24

    response = api.post(
        f"/collections/{posts}/items/publish", json={"items": [{"id": item["id"]}, {"id": missing}]}
    )

    assert response.status_code == 202
    body = response.json()
    assert body["publishedItemIds"] == [item["id"]]
    assert len(body["errors"]) == 1
    assert missing in body["errors"][0]


def test_live_patch_of_a_never_published_item_is_409(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("draft")

    single = api.patch(
        f"/collections/{posts}/items/{item['id']}/live", json={"fieldData": {"name": "N"}}
    )
    many = api.patch(
        f"/collections/{posts}/items/live",
        json={"items": [{"id": item["id"], "fieldData": {"name": "N"}}]},
    )

    assert (single.status_code, single.json()["code"]) == (409, "conflict")
    assert (many.status_code, many.json()["code"]) == (409, "conflict")


def test_live_patch_of_a_published_item_updates_live_and_staged(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("pub")
    api.post(f"/collections/{posts}/items/publish", json={"itemIds": [item["id"]]})

    response = api.patch(
        f"/collections/{posts}/items/live",
        json={"items": [{"id": item["id"], "fieldData": {"summary": "new"}}]},
    )

    assert response.status_code == 200
    assert response.json()["items"][0]["fieldData"]["summary"] == "new"
    assert (
        api.get(f"/collections/{posts}/items/{item['id']}/live").json()["fieldData"]["summary"]
        == "new"
    )
    assert (
        api.get(f"/collections/{posts}/items/{item['id']}").json()["fieldData"]["summary"] == "new"
    )


def test_staged_patch_leaves_the_live_version_alone(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("both", summary="old")
    api.post(f"/collections/{posts}/items/publish", json={"itemIds": [item["id"]]})

    response = api.patch(
        f"/collections/{posts}/items/{item['id']}",
        json={"isDraft": True, "fieldData": {"summary": "new"}},
    )

    assert response.status_code == 200
    staged = response.json()
    assert staged["isDraft"] is True
    assert staged["lastPublished"] is not None
    assert (
        api.get(f"/collections/{posts}/items/{item['id']}/live").json()["fieldData"]["summary"]
        == "old"
    )


def test_patch_to_a_taken_slug_is_a_duplicate(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    create_post("first")
    second = create_post("second")

    response = api.patch(
        f"/collections/{posts}/items",
        json={"items": [{"id": second["id"], "fieldData": {"slug": "first"}}]},
    )

    assert response.status_code == 400
    assert _details(response) == [
        {"param": "slug", "description": "Unique value is already in database: 'first'"}
    ]


def test_patch_of_unknown_item_is_404(api: httpx.Client, posts: str) -> None:
    response = api.patch(
        f"/collections/{posts}/items/{'a' * 24}", json={"fieldData": {"name": "N"}}
    )

    assert (response.status_code, response.json()["code"]) == (404, "item_not_found")


def test_delete_live_unpublishes(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("gone-live")
    api.post(f"/collections/{posts}/items/publish", json={"itemIds": [item["id"]]})

    response = api.request(
        "DELETE", f"/collections/{posts}/items/live", json={"items": [{"id": item["id"]}]}
    )

    assert response.status_code == 204
    assert api.get(f"/collections/{posts}/items/{item['id']}/live").status_code == 404
    staged = api.get(f"/collections/{posts}/items/{item['id']}").json()
    assert (staged["isDraft"], staged["lastPublished"]) == (True, None)


def test_delete_removes_the_item_and_frees_its_slug(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("temp")

    response = api.request(
        "DELETE", f"/collections/{posts}/items", json={"items": [{"id": item["id"]}]}
    )

    assert response.status_code == 204
    assert api.get(f"/collections/{posts}/items/{item['id']}").status_code == 404
    create_post("temp")


def test_create_live_item_is_published_at_once(api: httpx.Client, posts: str) -> None:
    response = api.post(
        f"/collections/{posts}/items/live", json={"fieldData": {"name": "L", "slug": "l"}}
    )

    assert response.status_code == 202
    assert response.json()["lastPublished"] is not None
    assert api.get(f"/collections/{posts}/items/live").json()["pagination"]["total"] == 1


def test_bulk_creates_one_id_per_item_across_locales(
    api: httpx.Client, posts: str, sandbox: Sandbox
) -> None:
    locales = [
        sandbox.locales["primary"]["cmsLocaleId"],
        sandbox.locales["secondary"][0]["cmsLocaleId"],
    ]
    body = {
        "cmsLocaleIds": locales,
        "isDraft": False,
        "fieldData": [{"name": "A", "slug": "a"}, {"name": "B", "slug": "b"}],
    }

    response = api.post(f"/collections/{posts}/items/bulk", json=body)

    assert response.status_code == 202
    items = response.json()["items"]
    assert [(i["fieldData"]["slug"], i["cmsLocaleId"]) for i in items] == [
        ("a", locales[0]),
        ("a", locales[1]),
        ("b", locales[0]),
        ("b", locales[1]),
    ]
    assert items[0]["id"] == items[1]["id"] != items[2]["id"]
    french = api.get(
        f"/collections/{posts}/items/{items[0]['id']}", params={"cmsLocaleId": locales[1]}
    )
    assert french.json()["cmsLocaleId"] == locales[1]
    third = sandbox.locales["secondary"][1]["cmsLocaleId"]
    assert (
        api.get(f"/collections/{posts}/items", params={"cmsLocaleId": third}).json()["items"] == []
    )


def test_slug_uniqueness_is_per_locale(api: httpx.Client, posts: str, sandbox: Sandbox) -> None:
    french = sandbox.locales["secondary"][0]["cmsLocaleId"]
    german = sandbox.locales["secondary"][1]["cmsLocaleId"]
    api.post(
        f"/collections/{posts}/items/bulk",
        json={"cmsLocaleIds": [french], "fieldData": {"name": "F", "slug": "same"}},
    )

    ok = api.post(
        f"/collections/{posts}/items/bulk",
        json={"cmsLocaleIds": [german], "fieldData": {"name": "G", "slug": "same"}},
    )
    dup = api.post(
        f"/collections/{posts}/items/bulk",
        json={"cmsLocaleIds": [french], "fieldData": {"name": "F", "slug": "same"}},
    )

    assert ok.status_code == 202
    assert dup.status_code == 400


def test_unknown_cms_locale_is_a_validation_error(api: httpx.Client, posts: str) -> None:
    response = api.get(f"/collections/{posts}/items", params={"cmsLocaleId": "f" * 24})

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_list_filters_by_slug_and_name(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    create_post("alpha", name="Alpha")
    beta = create_post("beta", name="Beta")

    by_slug = api.get(f"/collections/{posts}/items", params={"slug": "beta"}).json()
    by_name = api.get(f"/collections/{posts}/items", params={"name": "Alpha"}).json()
    none = api.get(f"/collections/{posts}/items", params={"slug": "gamma"}).json()

    assert [i["id"] for i in by_slug["items"]] == [beta["id"]]
    assert [i["fieldData"]["slug"] for i in by_name["items"]] == ["alpha"]
    assert none == {"items": [], "pagination": {"limit": 100, "offset": 0, "total": 0}}


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("name", "asc", ["a", "b", "c"]),
        ("name", "desc", ["c", "b", "a"]),
        ("slug", "asc", ["a", "b", "c"]),
        ("createdOn", "desc", ["a", "c", "b"]),
    ],
)
def test_list_sorts(
    api: httpx.Client,
    posts: str,
    create_post: Callable[..., dict[str, Any]],
    sort_by: str,
    order: str,
    expected: list[str],
) -> None:
    for slug in ("b", "c", "a"):
        create_post(slug, name=slug.upper())

    response = api.get(
        f"/collections/{posts}/items", params={"sortBy": sort_by, "sortOrder": order}
    )

    assert [i["fieldData"]["slug"] for i in response.json()["items"]] == expected


def test_unknown_sort_field_is_rejected(api: httpx.Client, posts: str) -> None:
    response = api.get(f"/collections/{posts}/items", params={"sortBy": "rating"})

    assert response.status_code == 400


def test_site_publish_publishes_queued_items_once_a_minute(
    api: httpx.Client, sandbox: Sandbox, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    queued = create_post("queued")
    draft = api.post(
        f"/collections/{posts}/items",
        json={"isDraft": True, "fieldData": {"name": "D", "slug": "d"}},
    ).json()

    first = api.post(f"/sites/{sandbox.site_id}/publish", json={"publishToWebflowSubdomain": True})
    second = api.post(f"/sites/{sandbox.site_id}/publish", json={"publishToWebflowSubdomain": True})

    assert first.status_code == 202
    assert first.json()["publishToWebflowSubdomain"] is True
    assert api.get(f"/collections/{posts}/items/{queued['id']}/live").status_code == 200
    assert api.get(f"/collections/{posts}/items/{draft['id']}/live").status_code == 404
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1


def test_list_takes_several_comma_separated_locales(
    api: httpx.Client, posts: str, sandbox: Sandbox
) -> None:
    primary = sandbox.locales["primary"]["cmsLocaleId"]
    french = sandbox.locales["secondary"][0]["cmsLocaleId"]
    api.post(
        f"/collections/{posts}/items/bulk",
        json={"cmsLocaleIds": [primary, french], "fieldData": {"name": "A", "slug": "a"}},
    )
    api.post(
        f"/collections/{posts}/items/bulk",
        json={"cmsLocaleIds": [primary], "fieldData": {"name": "B", "slug": "b"}},
    )

    page = api.get(
        f"/collections/{posts}/items", params={"cmsLocaleId": f"{primary},{french}"}
    ).json()

    assert [(i["fieldData"]["slug"], i["cmsLocaleId"]) for i in page["items"]] == [
        ("a", primary),
        ("a", french),
        ("b", primary),
    ]
    assert page["pagination"]["total"] == 3


def test_two_patches_of_one_item_in_a_request_both_apply(
    api: httpx.Client, posts: str, create_post: Callable[..., dict[str, Any]]
) -> None:
    item = create_post("twice")
    patches = [
        {"id": item["id"], "fieldData": {"summary": "first"}},
        {"id": item["id"], "fieldData": {"rating": 3}},
    ]

    api.patch(f"/collections/{posts}/items", json={"items": patches})

    field_data = api.get(f"/collections/{posts}/items/{item['id']}").json()["fieldData"]
    assert (field_data["summary"], field_data["rating"]) == ("first", 3)


def test_patch_cannot_clear_a_required_field(api: httpx.Client, sandbox: Sandbox) -> None:
    submissions = sandbox.collections["submissions"]
    fields = {"name": "S", "slug": "s", "email": "a@b.co", "message": "hello"}
    item = api.post(f"/collections/{submissions}/items", json={"fieldData": fields}).json()

    response = api.patch(
        f"/collections/{submissions}/items/{item['id']}", json={"fieldData": {"email": None}}
    )

    assert response.status_code == 400
    assert [d["param"] for d in _details(response)] == ["email"]


def test_malformed_json_is_bad_request(api: httpx.Client, posts: str) -> None:
    response = api.post(
        f"/collections/{posts}/items",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()["code"]) == (400, "bad_request")


def test_publishing_more_than_100_ids_is_rejected(api: httpx.Client, posts: str) -> None:
    response = api.post(f"/collections/{posts}/items/publish", json={"itemIds": ["a" * 24] * 101})

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
