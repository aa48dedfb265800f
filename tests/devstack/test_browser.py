"""The demo site in headless Chromium: a visitor posts the form with an image and watches it arrive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page

from bench.photos import heic_photo
from devstack.demo import make_png
from tests.browser_support import chromium, require_chromium
from tests.devstack.stackproc import StackProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    require_chromium()
    running = StackProcess.start(tmp_path_factory.mktemp("browser-stack"))
    try:
        yield running
        running.stop()
        assert running.leftovers() == []
    finally:
        running.kill()


@pytest.fixture(scope="module")
def browser(stack: StackProcess) -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab, closed after the test."""
    opened = browser.new_page()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def site_url(stack: StackProcess) -> str:
    return str(stack.state["services"]["demo-site"]["url"])


def post_with_photo(page: Page, site_url: str, name: str, photo: Path, loaded: str) -> Locator:
    """Send the site's direct form with `photo` as a visitor would; the `img` of its row in the
    live view, once upload-asset has attached the asset and the browser has loaded it such that
    the JavaScript condition `loaded` (on `img`) holds."""
    page.goto(site_url)
    form = page.locator("#direct-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=email]").fill("visitor@example.com")
    form.locator("textarea[name=message]").fill(f"Sent from headless Chromium with {photo.name}.")
    form.locator("input[name=attachment]").set_input_files(str(photo))

    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    assert page.url.startswith(site_url)
    assert "sent=form" in page.url
    row = page.locator("[data-collection=submissions] tr.item", has_text=name)
    row.wait_for(timeout=30_000)
    image = row.locator("img")
    image.wait_for(timeout=60_000)  # appears once upload-asset has attached the asset
    page.wait_for_function(
        f"img => img.complete && {loaded}", arg=image.element_handle(), timeout=15_000
    )
    return image


def test_form_with_an_image_shows_up_in_the_live_view_with_its_image(
    stack: StackProcess, page: Page, site_url: str, tmp_path: Path
) -> None:
    photo = tmp_path / "browser-photo.png"
    photo.write_bytes(make_png(80, 60, "browser-test"))

    post_with_photo(
        page, site_url, "Browser visitor with a photo", photo, "img.naturalWidth === 80"
    )

    assert page.locator("#assets figure img").count() >= 1
    page.screenshot(path=str(stack.data_dir / "browser.png"), full_page=True)


def test_a_phone_photo_through_the_form_arrives_as_an_upright_jpeg(
    page: Page, site_url: str, tmp_path: Path
) -> None:
    # A HEIC taken sideways (EXIF orientation 6), as an iPhone writes it: queued with the post,
    # attached once drain-intake has made the item, converted and turned upright by upload-asset.
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(heic_photo(96, 64, orientation=6))

    # Chromium cannot show a HEIC: a loaded image 64 wide and 96 tall is the upright JPEG.
    upright = "img.naturalWidth === 64 && img.naturalHeight === 96"
    image = post_with_photo(page, site_url, "Browser visitor with a phone photo", photo, upright)

    served = httpx.get(image.evaluate("img => img.currentSrc"), timeout=10)
    assert served.content[:3] == b"\xff\xd8\xff"


def test_webflow_form_reaches_the_live_view_through_the_webhook(page: Page, site_url: str) -> None:
    name = "Browser visitor on the Webflow form"
    page.goto(site_url)
    form = page.locator("#webhook-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=email]").fill("webhook@example.com")
    form.locator("textarea[name=message]").fill("Through the sandbox's signed webhook.")

    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    assert "sent=webhook" in page.url
    page.locator("[data-collection=submissions] tr.item", has_text=name).wait_for(timeout=30_000)


def test_a_refused_form_post_shows_why_on_the_site(page: Page, site_url: str) -> None:
    page.goto(site_url)
    form = page.locator("#direct-form")
    form.evaluate("form => { form.noValidate = true; }")  # let the function judge the email
    form.locator("input[name=name]").fill("Browser visitor with a typo")
    form.locator("input[name=email]").fill("not-an-email")
    form.locator("textarea[name=message]").fill("This one is refused.")

    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    assert "sent=error" in page.url
    notice = page.locator("#notice")
    assert "email: must be a valid email address" in notice.inner_text()
    assert "error" in (notice.get_attribute("class") or "")
