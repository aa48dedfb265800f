"""The client percent-encodes the ids it puts in paths: a stray character cannot break the URL or
reach another endpoint."""

from __future__ import annotations

import pytest

from shared.errors import NotFoundError
from shared.webflow import WebflowClient
from tests.conftest import Sandbox


@pytest.mark.parametrize("item_id", ["\u001fbad", "a b", "x?limit=1", "x#frag", "../../sites"])
def test_an_odd_id_reaches_webflow_encoded_and_is_not_found(sandbox: Sandbox, item_id: str) -> None:
    # GIVEN a client on the sandbox
    client = WebflowClient(sandbox.token, base_url=sandbox.api_base_url, rate_limit_per_minute=600)

    # WHEN an item id holds characters that mean something in a URL
    # THEN the request is made, and Webflow's answer is a plain not-found
    with client, pytest.raises(NotFoundError):
        client.get_item(sandbox.collections["posts"], item_id)
