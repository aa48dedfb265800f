"""The client checks every id it puts in a path (24 lowercase hex digits) and quotes each segment:
a stray character cannot break the URL or reach another endpoint, and nothing is sent for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.webflow import WebflowClient, api_path
from shared.webflow.errors import InvalidIdError, NotFoundError
from tests.conftest import Sandbox
from tests.items_support import create_items, post_fields


@pytest.mark.parametrize("item_id", ["\u001fbad", "a b", "x?limit=1", "x#frag", "../../sites"])
def test_an_odd_id_is_not_found_without_a_request(sandbox: Sandbox, item_id: str) -> None:
    # GIVEN a client on the sandbox
    client = WebflowClient(sandbox.token, base_url=sandbox.api_base_url, rate_limit_per_minute=600)
    before = sandbox.stats()["total"]

    # WHEN an item id holds characters that mean something in a URL
    # THEN it names nothing: a not-found that callers already handle, and nothing was sent
    with client, pytest.raises(NotFoundError):
        client.get_item(sandbox.collections["posts"], item_id)
    assert sandbox.stats()["total"] == before


def test_an_id_holding_a_path_reaches_no_endpoint(sandbox: Sandbox) -> None:
    # GIVEN a post, and an "asset id" that climbs to it
    posts = sandbox.collections["posts"]
    with sandbox.api() as api:
        [post] = create_items(api, posts, post_fields("post", 1))
    climbing = f"../collections/{posts}/items/{post['id']}"
    client = WebflowClient(sandbox.token, base_url=sandbox.api_base_url, rate_limit_per_minute=600)
    before = sandbox.stats()["total"]

    # WHEN it is used to delete an asset THEN nothing is sent and the post is still there
    with client, pytest.raises(InvalidIdError):
        client.delete_asset(climbing)
    assert sandbox.stats()["total"] == before
    with sandbox.api() as api:
        assert api.get(f"/collections/{posts}/items/{post['id']}").status_code == 200


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda c: c.get_site("../../sites"), "site"),
        (lambda c: c.list_items("x" * 24), "collection"),
        (lambda c: c.get_item("a" * 24, "A" * 24), "item"),
        (lambda c: c.update_asset("a" * 25, alt_text="x"), "asset"),
        (lambda c: c.create_webhook("%2e%2e", "form_submission", "https://x.example"), "site"),
    ],
)
def test_every_id_placed_in_a_path_is_checked(
    sandbox: Sandbox, call: Callable[[WebflowClient], Any], what: str
) -> None:
    client = WebflowClient(sandbox.token, base_url=sandbox.api_base_url, rate_limit_per_minute=600)
    before = sandbox.stats()["total"]
    with client, pytest.raises(InvalidIdError) as raised:
        call(client)
    assert raised.value.details == [{"param": what, "description": "is not a Webflow id"}]
    assert sandbox.stats()["total"] == before


def test_api_path_quotes_each_segment_with_nothing_safe() -> None:
    assert api_path("collections/{}/items/{}", collection="a" * 24, item="b" * 24) == (
        f"collections/{'a' * 24}/items/{'b' * 24}"
    )
