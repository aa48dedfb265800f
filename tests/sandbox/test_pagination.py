"""Pagination of item lists: defaults, cap, edges and errors."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def five_posts(api: httpx.Client, posts: str) -> list[str]:
    body = {"items": [{"fieldData": {"name": f"P{i}", "slug": f"p-{i}"}} for i in range(5)]}
    response = api.post(f"/collections/{posts}/items", json=body)
    assert response.status_code == 202
    return [item["id"] for item in response.json()["items"]]


def test_limit_defaults_to_100(api: httpx.Client, posts: str, five_posts: list[str]) -> None:
    page = api.get(f"/collections/{posts}/items").json()

    assert page["pagination"] == {"limit": 100, "offset": 0, "total": 5}
    assert [item["id"] for item in page["items"]] == five_posts


def test_limit_above_100_is_capped(api: httpx.Client, posts: str, five_posts: list[str]) -> None:
    page = api.get(f"/collections/{posts}/items", params={"limit": 500}).json()

    assert page["pagination"]["limit"] == 100


def test_pages_walk_the_whole_list(api: httpx.Client, posts: str, five_posts: list[str]) -> None:
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = api.get(f"/collections/{posts}/items", params={"limit": 2, "offset": offset}).json()
        assert page["pagination"] == {"limit": 2, "offset": offset, "total": 5}
        seen += [item["id"] for item in page["items"]]

    assert seen == five_posts


def test_offset_past_the_end_gives_an_empty_page(
    api: httpx.Client, posts: str, five_posts: list[str]
) -> None:
    page = api.get(f"/collections/{posts}/items", params={"offset": 50}).json()

    assert page == {"items": [], "pagination": {"limit": 100, "offset": 50, "total": 5}}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "ten"),
        ("limit", "1.5"),
        ("offset", "-1"),
        ("offset", "x"),
    ],
)
def test_bad_limit_or_offset_is_a_validation_error(
    api: httpx.Client, posts: str, name: str, value: str
) -> None:
    response = api.get(f"/collections/{posts}/items", params={name: value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["param"] == name


def test_live_list_paginates_published_items_only(
    api: httpx.Client, posts: str, five_posts: list[str]
) -> None:
    api.post(f"/collections/{posts}/items/publish", json={"itemIds": five_posts[:3]})

    page = api.get(f"/collections/{posts}/items/live", params={"limit": 2, "offset": 2}).json()

    assert page["pagination"] == {"limit": 2, "offset": 2, "total": 3}
    assert [item["id"] for item in page["items"]] == [five_posts[2]]
