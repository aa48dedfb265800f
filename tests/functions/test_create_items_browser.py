"""A plain HTML form on a site that set no success or error page, posted from headless Chromium.

The form's page is served from its own loopback origin; create-items (served on another port, the
sandbox behind it) answers the browser with its own small pages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import chromium, require_chromium
from tests.conftest import Sandbox
from tests.create_items_support import item_by_name, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

FORM_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contact us</title>
<!-- Cross-origin, browsers send only the origin as Referer unless the page allows more. -->
<meta name="referrer" content="no-referrer-when-downgrade"></head>
<body><h1>Contact us</h1>
<form method="post" action="{action}">
  <label>Name <input name="name"></label>
  <label>Email <input name="email"></label>
  <label>Message <textarea name="message"></textarea></label>
  <button type="submit">Send</button>
</form></body></html>
"""


@pytest.fixture
def site(webflow_env: dict[str, str], sandbox: Sandbox) -> Iterator[tuple[str, str]]:
    """(the form page's URL, create-items' URL): a site with no FORM_SUCCESS_URL/FORM_ERROR_URL."""
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), _FormPage)
    origin = f"http://127.0.0.1:{page_server.server_port}"
    env = {
        "WEBFLOW_COLLECTION_ID": sandbox.collections["submissions"],
        "ALLOWED_ORIGINS": origin,
        "FORM_SUCCESS_URL": "",
        "FORM_ERROR_URL": "",
    }
    with serve_app(**env) as function_url:
        _FormPage.action = function_url
        thread = threading.Thread(target=page_server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{origin}/contact", function_url
        finally:
            page_server.shutdown()
            page_server.server_close()
            thread.join(timeout=10)


class _FormPage(BaseHTTPRequestHandler):
    action = ""

    def do_GET(self) -> None:
        body = FORM_HTML.format(action=self.action).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


def _fill_and_send(page: Page, form_url: str, email: str) -> None:
    page.goto(form_url)
    page.fill("input[name=name]", "Page visitor")
    page.fill("input[name=email]", email)
    page.fill("textarea[name=message]", "Sent from a plain HTML form.")
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_browser_gets_a_thank_you_page_and_a_way_back(
    site: tuple[str, str], browser: Browser, sandbox: Sandbox, tmp_path: Path
) -> None:
    form_url, _ = site
    page = browser.new_page()
    try:
        _fill_and_send(page, form_url, "visitor@example.com")

        assert page.title() == "Thank you"
        assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
        assert "{" not in page.inner_text("body")  # not the raw JSON
        page.screenshot(path=str(tmp_path / "thank-you.png"), full_page=True)
        with page.expect_navigation():
            page.get_by_role("link", name="Back to the page you came from").click()
        assert page.url == form_url
        assert item_by_name(sandbox, sandbox.collections["submissions"], "Page visitor")
    finally:
        page.close()


def test_a_refused_post_lists_the_fields_at_fault(
    site: tuple[str, str], browser: Browser, sandbox: Sandbox
) -> None:
    form_url, _ = site
    page = browser.new_page()
    try:
        _fill_and_send(page, form_url, "not-an-email")

        assert page.title() == "Your submission was not sent"
        alert = page.get_by_role("alert")
        assert "email: must be a valid email address" in alert.inner_text()
        link = page.get_by_role("link", name="Go back to the form and try again")
        assert link.get_attribute("href") == form_url
        assert item_by_name(sandbox, sandbox.collections["submissions"], "Page visitor") is None
    finally:
        page.close()
