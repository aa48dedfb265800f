"""The demo site: publishing status, the live-view endpoint (never the token), the webhook-form proxy."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.procs import ServiceLog
from devstack.site import DemoSite, SiteConfig, item_status
from tests.conftest import Sandbox
from tests.support import free_port


@pytest.mark.parametrize(
    ("item", "status"),
    [
        ({"isDraft": True, "lastPublished": None}, "draft"),
        ({"isDraft": False, "lastPublished": None}, "queued to publish"),
        (
            {
                "isDraft": False,
                "lastPublished": "2026-01-01T00:00:00.000Z",
                "lastUpdated": "2026-01-01T00:00:00.000Z",
            },
            "published",
        ),
        (
            {
                "isDraft": False,
                "lastPublished": "2026-01-01T00:00:00.000Z",
                "lastUpdated": "2026-01-02T00:00:00.000Z",
            },
            "queued to publish",
        ),
        ({"isDraft": True, "lastPublished": "2026-01-01T00:00:00.000Z"}, "changes in draft"),
        ({"isArchived": True, "isDraft": False, "lastPublished": None}, "archived"),
    ],
)
def test_item_status_follows_webflows_model(item: dict, status: str) -> None:
    assert item_status(item) == status


@pytest.fixture
def site(sandbox: Sandbox, service_log: ServiceLog) -> Iterator[DemoSite]:
    config = SiteConfig(
        host="127.0.0.1",
        port=free_port(),
        api_base_url=sandbox.api_base_url,
        control_url=sandbox.control_url,
        read_token=sandbox.read_only_token,
        site_id=sandbox.site_id,
        collections=dict(sandbox.collections),
        create_items_url="http://127.0.0.1:1/",
        cache_seconds=0,
    )
    demo_site = DemoSite(config, service_log)
    demo_site.start()
    yield demo_site
    demo_site.stop()


def test_live_view_lists_staged_and_live_items_without_any_token(
    site: DemoSite, sandbox: Sandbox
) -> None:
    posts = sandbox.collections["posts"]
    with sandbox.api() as api:
        created = (
            api.post(
                f"/collections/{posts}/items",
                json={"isDraft": False, "fieldData": {"name": "Shown item", "slug": "shown-item"}},
            )
            .raise_for_status()
            .json()
        )
        api.post(
            f"/collections/{posts}/items/publish", json={"itemIds": [created["id"]]}
        ).raise_for_status()

    response = httpx.get(f"{site.url}/api/state")

    assert response.status_code == 200
    shown = {item["id"]: item for item in response.json()["collections"]["posts"]["items"]}
    assert shown[created["id"]]["name"] == "Shown item"
    assert shown[created["id"]]["live"] is True
    assert shown[created["id"]]["status"] == "published"
    for secret in (sandbox.token, sandbox.read_only_token):
        assert secret not in response.text


def test_page_fills_the_form_targets_and_holds_no_token(site: DemoSite, sandbox: Sandbox) -> None:
    page = httpx.get(site.url).text

    assert 'action="http://127.0.0.1:1/"' in page
    assert f'value="{site.url}/?sent=form"' in page
    for secret in (sandbox.token, sandbox.read_only_token):
        assert secret not in page
    assert (
        httpx.get(f"{site.url}/app.js").headers["content-type"].startswith("application/javascript")
    )


def test_unknown_paths_are_404(site: DemoSite) -> None:
    assert httpx.get(f"{site.url}/nope").status_code == 404
    assert httpx.post(f"{site.url}/nope").status_code == 404


def test_with_a_challenge_the_form_carries_a_token_its_provider_accepts_once(
    sandbox: Sandbox, service_log: ServiceLog
) -> None:
    import re
    import threading

    import httpx

    from devstack.siteverify import SiteverifyServer

    verifier = SiteverifyServer("127.0.0.1", 0, "local-secret")
    threading.Thread(target=verifier.serve_forever, daemon=True).start()
    config = SiteConfig(
        host="127.0.0.1",
        port=free_port(),
        api_base_url=sandbox.api_base_url,
        control_url=sandbox.control_url,
        read_token=sandbox.read_only_token,
        site_id=sandbox.site_id,
        collections=dict(sandbox.collections),
        create_items_url="http://127.0.0.1:1/",
        captcha="turnstile",
        siteverify_url=verifier.url,
    )
    site = DemoSite(config, service_log)
    try:
        page = site.render_index().decode()
        token = re.search(r'name="cf-turnstile-response" value="([^"]+)"', page)
        assert token is not None
        form = {"secret": "local-secret", "response": token.group(1)}
        first = httpx.post(verifier.verify_url("turnstile"), data=form).json()
        again = httpx.post(verifier.verify_url("turnstile"), data=form).json()
        assert (first["success"], first["hostname"]) == (True, "127.0.0.1")
        assert again == {"success": False, "error-codes": ["timeout-or-duplicate"]}
    finally:
        site.server.server_close()
        verifier.shutdown()
        verifier.server_close()
