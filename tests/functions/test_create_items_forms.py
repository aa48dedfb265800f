"""Functional tests of create-items' HTML form posts: sandbox, fake-gcs-server, CORS, redirects."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from bench.photos import heic_photo
from tests.conftest import FakeGCS, Sandbox
from tests.create_items_support import (
    ERROR_URL,
    ORIGIN,
    SUCCESS_URL,
    item_by_name,
    make_app,
    writes,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JSON_ACCEPT = {"Accept": "application/json"}
BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Origin": ORIGIN}


@pytest.fixture
def env(webflow_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    """Forms go to the submissions collection, with success and error pages."""
    return {
        "WEBFLOW_COLLECTION_ID": sandbox.collections["submissions"],
        "FORM_SUCCESS_URL": SUCCESS_URL,
        "FORM_ERROR_URL": ERROR_URL,
    }


@pytest.fixture
def app(env: dict[str, str]) -> FlaskClient:
    return make_app(**env)


FORM = {"Name": "Ada Lovelace", "Email": "ada@example.com", "Message": "Hello there"}


# --- posting -------------------------------------------------------------------------------


def test_a_form_post_creates_the_item_and_redirects_to_the_success_page(
    app: FlaskClient, sandbox: Sandbox, submissions: str
) -> None:
    response = app.post("/", data=FORM, headers=BROWSER_ACCEPT)
    assert response.status_code == 303
    assert response.headers["Location"] == SUCCESS_URL
    item = item_by_name(sandbox, submissions, "Ada Lovelace")
    assert item is not None
    assert item["fieldData"]["email"] == "ada@example.com"


def test_a_form_post_asking_for_json_gets_the_result(app: FlaskClient) -> None:
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 201
    assert response.get_json()["results"][0]["status"] == "created"


def test_the_same_post_twice_resolves_to_the_first_item(app: FlaskClient) -> None:
    first = app.post("/", data=FORM, headers=JSON_ACCEPT).get_json()["results"][0]
    again = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert again.status_code == 200
    # The earlier item's id is not shown to an anonymous poster.
    assert again.get_json()["results"][0] == {
        **first,
        "status": "existing",
        "id": None,
        "slug": None,
    }


def test_redirect_field_to_an_allowed_origin_is_followed(app: FlaskClient) -> None:
    target = f"{ORIGIN}/welcome?from=form"
    response = app.post("/", data={**FORM, "_redirect": target}, headers=BROWSER_ACCEPT)
    assert (response.status_code, response.headers["Location"]) == (303, target)


def test_redirect_field_to_another_origin_is_ignored(app: FlaskClient) -> None:
    response = app.post(
        "/", data={**FORM, "_redirect": "https://evil.test/phish"}, headers=BROWSER_ACCEPT
    )
    assert response.headers["Location"] == SUCCESS_URL


def test_any_origin_may_post_but_the_redirect_goes_only_to_a_listed_origin(
    env: dict[str, str],
) -> None:
    app = make_app(**{**env, "ALLOWED_ORIGINS": "*"})
    response = app.post(
        "/", data={**FORM, "_redirect": "https://evil.test/phish"}, headers=BROWSER_ACCEPT
    )
    assert (response.status_code, response.headers["Location"]) == (303, SUCCESS_URL)


@pytest.mark.parametrize(
    "target",
    [f"{ORIGIN}/x\r\nSet-Cookie: a=b", f"{ORIGIN}/\tx", f"{ORIGIN}\\@evil.test/"],
    ids=["header-injection", "tab", "backslash"],
)
def test_a_redirect_with_control_characters_is_ignored(app: FlaskClient, target: str) -> None:
    response = app.post("/", data={**FORM, "_redirect": target}, headers=BROWSER_ACCEPT)
    assert (response.status_code, response.headers["Location"]) == (303, SUCCESS_URL)


# --- pages for browsers when the site names none ----------------------------------------------

FORM_PAGE = f"{ORIGIN}/contact"


@pytest.fixture
def pageless(env: dict[str, str]) -> FlaskClient:
    """A site that set neither FORM_SUCCESS_URL nor FORM_ERROR_URL."""
    return make_app(**{**env, "FORM_SUCCESS_URL": "", "FORM_ERROR_URL": ""})


def test_without_a_success_page_a_browser_gets_a_thank_you_page_linking_back(
    pageless: FlaskClient, sandbox: Sandbox, submissions: str
) -> None:
    response = pageless.post("/", data=FORM, headers={**BROWSER_ACCEPT, "Referer": FORM_PAGE})
    assert response.status_code == 201
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>Thank you</h1>" in page
    assert f'<a href="{FORM_PAGE}">Back to the page you came from</a>' in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert item_by_name(sandbox, submissions, "Ada Lovelace") is not None


def test_a_referer_from_an_origin_not_listed_gets_no_link(pageless: FlaskClient) -> None:
    headers = {**BROWSER_ACCEPT, "Referer": "https://evil.test/phish"}
    page = pageless.post("/", data=FORM, headers=headers).get_data(as_text=True)
    assert "<h1>Thank you</h1>" in page
    assert "evil.test" not in page
    assert "<a " not in page


def test_without_an_error_page_a_browser_gets_the_faults_in_words(
    pageless: FlaskClient, sandbox: Sandbox
) -> None:
    bad = {**FORM, "Email": "not-an-email", "Message": ""}
    response = pageless.post("/", data=bad, headers={**BROWSER_ACCEPT, "Referer": FORM_PAGE})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<div class="problems" role="alert">' in page
    assert "<li><strong>Email</strong>: must be a valid email address</li>" in page
    assert "<li><strong>Message</strong>: is required</li>" in page
    assert f'<a href="{FORM_PAGE}">Go back to the form and try again</a>' in page
    assert writes(sandbox) == 0


def test_what_a_visitor_typed_is_escaped_on_the_page(env: dict[str, str], sandbox: Sandbox) -> None:
    app = make_app(
        **{**env, "FORM_SUCCESS_URL": "", "FORM_ERROR_URL": "", "UNMAPPED_FIELDS": "reject"}
    )
    response = app.post("/", data={**FORM, "<script>x()</script>": "1"}, headers=BROWSER_ACCEPT)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<script>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page


@pytest.mark.parametrize("accept", ["*/*", "application/json", ""])
def test_fetch_and_json_callers_keep_json_without_pages(pageless: FlaskClient, accept: str) -> None:
    headers = {"Origin": ORIGIN, **({"Accept": accept} if accept else {})}
    ok = pageless.post("/", data=FORM, headers=headers)
    refused = pageless.post("/", data={**FORM, "Email": "x"}, headers=headers)
    assert (ok.status_code, ok.mimetype) == (201, "application/json")
    assert (refused.status_code, refused.mimetype) == (400, "application/json")


def test_a_filled_honeypot_is_accepted_and_dropped(app: FlaskClient, sandbox: Sandbox) -> None:
    response = app.post("/", data={**FORM, "_gotcha": "buy pills"}, headers=BROWSER_ACCEPT)
    assert (response.status_code, response.headers["Location"]) == (303, SUCCESS_URL)
    assert writes(sandbox) == 0


def test_the_honeypot_field_name_is_configurable(env: dict[str, str], sandbox: Sandbox) -> None:
    app = make_app(**env, HONEYPOT_FIELD="website_url")
    response = app.post("/", data={**FORM, "website_url": "x"}, headers=JSON_ACCEPT)
    assert response.status_code == 202
    assert writes(sandbox) == 0


def test_field_map_renames_form_inputs(
    env: dict[str, str], sandbox: Sandbox, submissions: str
) -> None:
    app = make_app(**env, FIELD_MAP='{"full-name": "name", "body": "message"}')
    data = {"full-name": "Grace Hopper", "Email": "grace@example.com", "body": "Hi"}
    assert app.post("/", data=data, headers=JSON_ACCEPT).status_code == 201
    assert item_by_name(sandbox, submissions, "Grace Hopper")["fieldData"]["message"] == "Hi"  # type: ignore[index]


# --- invalid posts -------------------------------------------------------------------------


def test_an_invalid_post_redirects_to_the_error_page_with_the_fields(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    response = app.post("/", data={**FORM, "Email": "not-an-email"}, headers=BROWSER_ACCEPT)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == ERROR_URL
    query = parse_qs(location.query)
    assert query["error"] == ["invalid_fields"]
    assert query["field"] == ["Email: must be a valid email address"]
    assert writes(sandbox) == 0


def test_an_invalid_post_asking_for_json_is_400(app: FlaskClient) -> None:
    response = app.post("/", data={"Name": "No email"}, headers=JSON_ACCEPT)
    assert response.status_code == 400
    assert {d["field"] for d in response.get_json()["details"]} == {"email", "message"}


def test_a_form_body_over_the_limit_is_413(env: dict[str, str]) -> None:
    app = make_app(**env, MAX_BODY_BYTES="200")
    response = app.post("/", data={**FORM, "Message": "x" * 500}, headers=JSON_ACCEPT)
    assert response.status_code == 413


def test_posts_over_the_per_client_rate_limit_are_429(
    env: dict[str, str], sandbox: Sandbox
) -> None:
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="2")
    client = {"X-Forwarded-For": "203.0.113.7"}
    statuses = [
        app.post(
            "/", data={**FORM, "Name": f"Ada {n}"}, headers={**JSON_ACCEPT, **client}
        ).status_code
        for n in range(3)
    ]
    assert statuses == [201, 201, 429]
    other = app.post("/", data=FORM, headers={**JSON_ACCEPT, "X-Forwarded-For": "198.51.100.1"})
    assert other.status_code == 201


def test_the_rate_limit_answer_carries_retry_after(env: dict[str, str]) -> None:
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="1")
    app.post("/", data=FORM, headers=JSON_ACCEPT)
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60


# Behind an external Application Load Balancer the header reads
# "<client-supplied>, <client IP>, <load balancer IP>": the last entry is the same for everyone.
BALANCER = "34.120.0.9"


def _post_via(app: FlaskClient, forwarded: str, n: int) -> int:
    data = {**FORM, "Name": f"Visitor {n}"}
    return app.post(
        "/", data=data, headers={**JSON_ACCEPT, "X-Forwarded-For": forwarded}
    ).status_code


def test_behind_a_load_balancer_without_trusted_proxies_every_visitor_shares_its_bucket(
    env: dict[str, str],
) -> None:
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="1")
    assert _post_via(app, f"203.0.113.7, {BALANCER}", 0) == 201
    assert _post_via(app, f"198.51.100.1, {BALANCER}", 1) == 429


def test_with_one_trusted_proxy_visitors_behind_the_load_balancer_are_limited_apart(
    env: dict[str, str],
) -> None:
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="1", FORM_TRUSTED_PROXIES="1")
    assert _post_via(app, f"203.0.113.7, {BALANCER}", 0) == 201
    assert _post_via(app, f"198.51.100.1, {BALANCER}", 1) == 201
    assert _post_via(app, f"203.0.113.7, {BALANCER}", 2) == 429


@pytest.mark.parametrize(
    ("trusted", "appended"),
    [("0", "203.0.113.7"), ("1", f"203.0.113.7, {BALANCER}")],
    ids=["direct", "load-balancer"],
)
def test_a_spoofed_leftmost_entry_does_not_escape_the_limit(
    env: dict[str, str], trusted: str, appended: str
) -> None:
    # The client sends its own X-Forwarded-For; the front end (and balancer) append after it.
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="1", FORM_TRUSTED_PROXIES=trusted)
    assert _post_via(app, appended, 0) == 201
    spoofs = ["6.6.6.6", "2001:db8::66, 7.7.7.7", "for=8.8.8.8;proto=https", " , ,"]
    assert [_post_via(app, f"{spoof}, {appended}", n) for n, spoof in enumerate(spoofs, 1)] == [
        429
    ] * len(spoofs)


def test_a_header_shorter_than_the_proxy_chain_falls_back_to_the_peer(
    env: dict[str, str],
) -> None:
    # One entry where two are expected: the request did not come through the balancer, and that
    # entry may be the client's own; the socket peer (here the test client's) is the key instead.
    app = make_app(**env, FORM_RATE_LIMIT_PER_MINUTE="1", FORM_TRUSTED_PROXIES="1")
    assert _post_via(app, "203.0.113.7", 0) == 201
    assert _post_via(app, "198.51.100.1", 1) == 429
    assert _post_via(app, f"192.0.2.1, {BALANCER}", 2) == 201


@pytest.mark.parametrize("value", ["-1", "11", "one"])
def test_a_bad_trusted_proxy_count_is_a_configuration_error_naming_it(
    env: dict[str, str], value: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(**env, FORM_TRUSTED_PROXIES=value)
    capfd.readouterr()
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 500
    assert response.get_json()["code"] == "configuration_error"
    assert "FORM_TRUSTED_PROXIES" in capfd.readouterr().out


# --- files ---------------------------------------------------------------------------------


def test_a_multipart_image_lands_in_the_bucket_with_its_target(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name, UPLOAD_PREFIX="uploads")
    data = {**FORM, "attachment": (io.BytesIO(PNG), "me.png", "image/png"), "attachment_alt": "Me"}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    result = response.get_json()["results"][0]
    item_id, slug = result["id"], result["slug"]
    assert slug.startswith("ada-lovelace-")
    name = f"uploads/{submissions}/{slug}/attachment.png"
    blob = gcs.bucket.get_blob(name)
    assert blob is not None
    assert blob.download_as_bytes() == PNG
    assert blob.metadata == {
        "webflow-item-id": item_id,
        "webflow-item-slug": slug,
        "webflow-collection-id": submissions,
        "webflow-field": "attachment",
        "webflow-alt": "Me",
    }
    assert "attachment_alt" not in item_by_name(sandbox, submissions, "Ada Lovelace")["fieldData"]  # type: ignore[index]


def test_form_files_go_under_the_first_of_several_upload_prefixes(
    env: dict[str, str], gcs: FakeGCS, submissions: str
) -> None:
    # UPLOAD_PREFIX is shared with upload-asset, which takes a list of prefixes to watch.
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name, UPLOAD_PREFIX="forms/, gallery/")
    data = {**FORM, "attachment": (io.BytesIO(PNG), "me.png", "image/png")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    slug = response.get_json()["results"][0]["slug"]
    names = [blob.name for blob in gcs.client.list_blobs(gcs.bucket_name)]
    assert names == [f"forms/{submissions}/{slug}/attachment.png"]


def test_a_file_of_a_type_webflow_refuses_is_400_and_nothing_is_written(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name)
    data = {**FORM, "attachment": (io.BytesIO(b"MZ"), "tool.exe", "application/octet-stream")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "attachment"
    assert writes(sandbox) == 0
    assert list(gcs.client.list_blobs(gcs.bucket_name)) == []


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            (io.BytesIO(PNG), "me.png", "application/pdf"),
            "is sent as application/pdf, not as a .png file",
        ),
        ((io.BytesIO(b""), "me.png", "image/png"), "is empty"),
        (
            (io.BytesIO(PNG), "me.jpg", "image/jpeg"),
            "the content is PNG data, not the .jpg its name says",
        ),
        (
            (io.BytesIO(b"MZ\x90\x00 not a photo"), "me.heic", "image/heic"),
            "the content is not a recognisable image, not the .heic its name says",
        ),
    ],
)
def test_a_file_upload_asset_would_refuse_is_400_and_nothing_is_written(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, upload: tuple, message: str
) -> None:
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name)
    data = {**FORM, "attachment": upload}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"] == [{"field": "attachment", "message": message}]
    assert writes(sandbox) == 0
    assert list(gcs.client.list_blobs(gcs.bucket_name)) == []


def test_a_phone_photo_is_taken_as_it_comes_heic_and_over_webflows_4_mb(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox, submissions: str
) -> None:
    # upload-asset converts and fits them (tests/functions/test_upload_asset_images.py): the form
    # must not refuse what will become a valid asset.
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name)
    heic = heic_photo(64, 48)
    data = {**FORM, "attachment": (io.BytesIO(heic), "IMG_0001.HEIC", "image/heic")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    slug = response.get_json()["results"][0]["slug"]
    stored = gcs.bucket.get_blob(f"uploads/{submissions}/{slug}/attachment.heic")
    assert stored is not None
    assert stored.download_as_bytes() == heic
    big = b"\xff\xd8\xff\xe0" + bytes(5 * 1024 * 1024)
    data = {**FORM, "Name": "Big", "attachment": (io.BytesIO(big), "big.jpg", "image/jpeg")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()


def test_a_photo_over_the_raw_upload_limit_is_400(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name, IMAGE_MAX_INPUT_BYTES=str(4 * 1024 * 1024))
    big = b"\xff\xd8\xff\xe0" + bytes(5 * 1024 * 1024)
    data = {**FORM, "attachment": (io.BytesIO(big), "big.jpg", "image/jpeg")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "attachment", "message": "must be at most 4 MB"}
    ]
    assert list(gcs.client.list_blobs(gcs.bucket_name)) == []


def test_a_file_outside_upload_allowed_extensions_is_400_naming_what_is_allowed(
    env: dict[str, str], gcs: FakeGCS, sandbox: Sandbox
) -> None:
    # upload-asset would refuse it later: the form must not answer 201 for it. The field takes
    # images, so of the two allowed extensions only jpg is offered.
    app = make_app(**env, UPLOAD_BUCKET=gcs.bucket_name, UPLOAD_ALLOWED_EXTENSIONS="jpg, .pdf")
    data = {**FORM, "attachment": (io.BytesIO(PNG), "me.png", "image/png")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "attachment", "message": "must be one of: jpg"}
    ]
    assert writes(sandbox) == 0
    assert list(gcs.client.list_blobs(gcs.bucket_name)) == []


def test_a_file_without_an_upload_bucket_is_400(app: FlaskClient) -> None:
    data = {**FORM, "attachment": (io.BytesIO(PNG), "me.png", "image/png")}
    response = app.post("/", data=data, headers=JSON_ACCEPT, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"] == [
        {"field": "attachment", "message": "file uploads are not enabled"}
    ]


# --- CORS ----------------------------------------------------------------------------------


def test_a_browser_preflight_from_an_allowed_origin_is_granted(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = app.options("/", headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert sandbox.stats()["total"] == 0


def test_a_preflight_from_an_unknown_origin_is_not_granted(app: FlaskClient) -> None:
    response = app.options(
        "/", headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.test", "null"])
@pytest.mark.parametrize("accept", [JSON_ACCEPT, BROWSER_ACCEPT])
def test_a_form_post_from_an_origin_not_allowed_is_refused(
    app: FlaskClient, sandbox: Sandbox, origin: str, accept: dict[str, str]
) -> None:
    response = app.post("/", data=FORM, headers={**accept, "Origin": origin})
    assert response.status_code == 403
    assert response.get_json() == {
        "code": "origin_not_allowed",
        "message": "Posts from this origin are not accepted",
        "details": [{"field": "Origin", "message": "is not one of ALLOWED_ORIGINS"}],
    }
    assert "Access-Control-Allow-Origin" not in response.headers
    assert sandbox.stats()["total"] == 0


def test_a_form_post_without_an_origin_is_accepted(app: FlaskClient) -> None:
    response = app.post("/", data=FORM, headers=JSON_ACCEPT)
    assert response.status_code == 201


def test_a_form_answer_to_an_allowed_origin_carries_cors(app: FlaskClient) -> None:
    response = app.post("/", data=FORM, headers={**JSON_ACCEPT, "Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Vary"] == "Origin, Accept"


@pytest.mark.parametrize(
    ("accept", "status"), [(JSON_ACCEPT, 201), (BROWSER_ACCEPT, 303)], ids=["json", "browser"]
)
def test_a_form_answer_varies_by_accept(
    app: FlaskClient, accept: dict[str, str], status: int
) -> None:
    response = app.post("/", data=FORM, headers=accept)
    assert response.status_code == status
    assert response.headers["Vary"] == "Origin, Accept"


def test_an_invalid_form_post_answered_by_accept_varies_by_it(app: FlaskClient) -> None:
    response = app.post("/", data={"Name": "No email"}, headers=JSON_ACCEPT)
    assert response.status_code == 400
    assert response.headers["Vary"] == "Origin, Accept"


def test_an_invalid_form_post_redirected_by_accept_varies_by_it(app: FlaskClient) -> None:
    response = app.post("/", data={**FORM, "Email": "not-an-email"}, headers=BROWSER_ACCEPT)
    assert response.status_code == 303
    assert response.headers["Vary"] == "Origin, Accept"
