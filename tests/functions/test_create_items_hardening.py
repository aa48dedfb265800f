"""create-items against hostile public input: numbers, HTML, form size, undeclared fields, probing.

Every test drives the real app (functions-framework) against the sandbox; each failed before the
limit or rule it checks existed.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.web.webhooks import sign
from tests.conftest import Sandbox
from tests.create_items_support import ORIGIN, item_by_name, list_items, make_app, writes
from tests.items_support import create_items

JSON_ACCEPT = {"Accept": "application/json", "Origin": ORIGIN}
WEBHOOK_SECRET = "whsec-hardening-0123456789"


@pytest.fixture
def posts_form(webflow_env: dict[str, str], posts: str) -> FlaskClient:
    """Form posts into the posts collection, which declares name, rating and body for forms."""
    return make_app(FORM_FIELDS="name,rating,body,hero", WEBFLOW_COLLECTION_ID=posts)


def _post(app: FlaskClient, data: Any, **options: Any) -> Any:
    return app.post("/", data=data, headers=JSON_ACCEPT, **options)


def _fields_at_fault(response: Any) -> list[str]:
    return [detail["field"] for detail in response.get_json()["details"]]


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1e999999", "1e300000", "1" * 400_000, "1e1000000", "1e5000", "-1e309", "1e-999999", "2e308"],
    ids=["e999999", "e300000", "digits", "e1000000", "e5000", "neg-e309", "tiny", "over-max"],
)
def test_a_number_beyond_what_webflow_stores_is_a_400_naming_the_field(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str, value: str
) -> None:
    # The form text limit is raised so that the number rule itself is what refuses.
    app = make_app(FORM_FIELDS="name,rating", FORM_MAX_TEXT_BYTES="1000000")
    response = _post(app, {"name": "Big", "rating": value})
    assert response.status_code == 400, response.get_json()
    assert _fields_at_fault(response) == ["rating"]
    assert writes(sandbox) == 0


def test_the_largest_storable_number_is_accepted(
    posts_form: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    response = _post(posts_form, {"name": "Max", "rating": "1.7e308"})
    assert response.status_code == 201, response.get_json()
    assert item_by_name(sandbox, posts, "Max")["fieldData"]["rating"] == 1.7e308  # type: ignore[index]


def test_whole_numbers_a_double_holds_exactly_stay_integers(
    posts_form: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    assert _post(posts_form, {"name": "Int", "rating": "9007199254740992"}).status_code == 201
    stored = item_by_name(sandbox, posts, "Int")["fieldData"]["rating"]  # type: ignore[index]
    assert stored == 2**53
    assert isinstance(stored, int)


def test_a_json_integer_beyond_python_s_digit_limit_is_a_400(
    webflow_env: dict[str, str], sandbox: Sandbox
) -> None:
    from tests.create_items_support import AUTH

    app = make_app()
    body = '{"items": [{"fieldData": {"name": "x", "rating": ' + "9" * 5000 + "}}]}"
    response = app.post("/", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"
    assert writes(sandbox) == 0


def test_a_signed_webhook_with_a_huge_number_is_acknowledged_without_an_item(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a genuine, signed delivery whose value cannot be stored
    app = make_app(
        WEBFLOW_COLLECTION_ID=posts,
        FORM_FIELDS="name,rating",
        WEBFLOW_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    payload = {"id": "s-huge", "name": "Contact", "data": {"name": "Huge", "rating": "1e999999"}}
    body = json.dumps({"triggerType": "form_submission", "payload": payload}).encode()
    timestamp = str(int(time.time() * 1000))
    headers = {
        "x-webflow-timestamp": timestamp,
        "x-webflow-signature": sign(WEBHOOK_SECRET, timestamp, body),
    }
    capfd.readouterr()
    # WHEN it is delivered
    response = app.post("/", data=body, headers=headers, content_type="application/json")
    # THEN Webflow gets a 2xx (no redelivery), the rejection is logged, nothing is written
    assert response.status_code == 202
    assert response.get_json()["details"][0]["field"] == "rating"
    assert "form submission rejected and acknowledged" in capfd.readouterr().out
    assert writes(sandbox) == 0


# --- RichText --------------------------------------------------------------------------------


def test_rich_text_nested_too_deeply_is_refused_before_sanitising(
    posts_form: FlaskClient, sandbox: Sandbox
) -> None:
    # Sanitising this took about 0.3 s of a core (60,000 levels: 15 s); now it is never sanitised.
    deep = "<div>" * 15_000 + "x" + "</div>" * 15_000
    app = make_app(FORM_FIELDS="name,body", FORM_MAX_TEXT_BYTES="1000000")
    response = _post(app, {"name": "Deep", "body": deep})
    assert response.status_code == 400
    [detail] = response.get_json()["details"]
    assert detail["field"] == "body"
    assert "nest" in detail["message"]
    assert writes(sandbox) == 0


def test_rich_text_within_the_bounds_is_sanitised_and_kept(
    posts_form: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    html = "<ul>" * 50 + "<li>ok<script>alert(1)</script></li>" + "</ul>" * 50
    response = _post(posts_form, {"name": "Nested", "body": html})
    assert response.status_code == 201, response.get_json()
    stored = item_by_name(sandbox, posts, "Nested")["fieldData"]["body"]  # type: ignore[index]
    assert "<li>ok</li>" in stored
    assert "script" not in stored


def test_a_form_s_text_has_its_own_smaller_limit(posts_form: FlaskClient, sandbox: Sandbox) -> None:
    response = _post(posts_form, {"name": "Long", "body": "<p>" + "x" * 100_001 + "</p>"})
    assert response.status_code == 413
    assert writes(sandbox) == 0


# --- form size -------------------------------------------------------------------------------


def test_an_urlencoded_form_with_too_many_fields_is_413_before_parsing(
    posts_form: FlaskClient, sandbox: Sandbox
) -> None:
    body = "&".join(f"f{n}=1" for n in range(5_000))
    response = posts_form.post(
        "/", data=body, headers=JSON_ACCEPT, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_many_fields"
    assert len(response.data) < 1000
    assert writes(sandbox) == 0


def test_a_multipart_form_with_too_many_parts_is_413(
    posts_form: FlaskClient, sandbox: Sandbox
) -> None:
    data = {f"f{n}": "1" for n in range(500)}
    response = _post(posts_form, data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert writes(sandbox) == 0


def test_a_multipart_form_whose_text_parts_exceed_the_text_limit_is_413(
    posts_form: FlaskClient, sandbox: Sandbox
) -> None:
    data = {f"f{n}": "y" * 20_000 for n in range(6)}
    response = _post(posts_form, {"name": "x", **data}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert writes(sandbox) == 0


def test_the_answer_echoes_at_most_twenty_ignored_names(posts_form: FlaskClient) -> None:
    unknown = {f"tracker_{n}": "1" for n in range(60)}
    response = _post(posts_form, {"name": "Echo", **unknown})
    assert response.status_code == 201
    result = response.get_json()["results"][0]
    assert len(result["ignoredFields"]) == 20
    assert result["ignoredFieldCount"] == 60


# --- what public input may write --------------------------------------------------------------


def test_a_form_writes_only_its_declared_fields_and_makes_a_draft(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    # GIVEN a form that declares name and summary only
    app = make_app(FORM_FIELDS="name,summary", WEBFLOW_COLLECTION_ID=posts)
    hostile = {
        "name": "Visitor",
        "summary": "hello",
        "featured": "on",
        "slug": "chosen",
        "hero": "https://evil.example/x.png",
        "published-on": "1999-01-01",
    }
    # WHEN an anonymous visitor posts every field of the collection
    response = _post(app, hostile)
    # THEN only the declared fields are written, the slug is derived, and the item is a draft
    assert response.status_code == 201, response.get_json()
    assert set(response.get_json()["results"][0]["ignoredFields"]) == {
        "featured",
        "slug",
        "hero",
        "published-on",
    }
    item = item_by_name(sandbox, posts, "Visitor")
    assert item is not None
    assert set(item["fieldData"]) == {"name", "summary", "slug"}
    assert item["fieldData"]["slug"].startswith("visitor-")
    assert item["isDraft"] is True


def test_form_create_as_draft_false_queues_public_items_to_publish(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    app = make_app(FORM_FIELDS="name", WEBFLOW_COLLECTION_ID=posts, FORM_CREATE_AS_DRAFT="false")
    assert _post(app, {"name": "Published"}).status_code == 201
    assert item_by_name(sandbox, posts, "Published")["isDraft"] is False  # type: ignore[index]


def test_field_map_serves_as_the_declared_fields(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    app = make_app(FORM_FIELDS="", FIELD_MAP='{"Your name": "name"}', WEBFLOW_COLLECTION_ID=posts)
    response = _post(app, {"Your name": "Mapped", "summary": "not declared"})
    assert response.status_code == 201, response.get_json()
    assert item_by_name(sandbox, posts, "Mapped")["fieldData"].get("summary") is None  # type: ignore[index]


def test_json_calls_with_a_key_still_write_any_field(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    from tests.create_items_support import AUTH

    app = make_app(FORM_FIELDS="name")
    body = {"items": [{"fieldData": {"name": "Keyed", "slug": "keyed", "featured": True}}]}
    assert app.post("/", json=body, headers=AUTH).status_code == 201
    item = item_by_name(sandbox, posts, "Keyed")
    assert item is not None
    assert item["fieldData"]["slug"] == "keyed"
    assert item["fieldData"]["featured"] is True


def test_without_declared_fields_form_posts_are_refused(
    webflow_env: dict[str, str], sandbox: Sandbox
) -> None:
    app = make_app(FORM_FIELDS="", ALLOWED_ORIGINS="")
    response = app.post("/", data={"name": "x"}, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "forms_not_enabled"
    assert writes(sandbox) == 0


def test_a_public_path_configured_without_declared_fields_is_a_configuration_error(
    webflow_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(FORM_FIELDS="")  # ALLOWED_ORIGINS is set
    capfd.readouterr()
    response = app.post("/", data={"name": "x"}, headers=JSON_ACCEPT)
    assert response.status_code == 500
    assert "FORM_FIELDS: is required with ALLOWED_ORIGINS" in capfd.readouterr().out


def test_a_public_form_refuses_svg_unless_allowed(
    webflow_env: dict[str, str], gcs: Any, sandbox: Sandbox, submissions: str
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>x</script></svg>'
    form = {"name": "Svg", "email": "s@example.com", "message": "m"}
    env = {"WEBFLOW_COLLECTION_ID": submissions, "UPLOAD_BUCKET": gcs.bucket_name}

    def post(app: FlaskClient) -> Any:
        data = {**form, "attachment": (io.BytesIO(svg), "x.svg", "image/svg+xml")}
        return _post(app, data, content_type="multipart/form-data")

    refused = post(make_app(**env))
    assert refused.status_code == 400
    assert refused.get_json()["details"] == [
        {"field": "attachment", "message": "SVG files are not accepted"}
    ]
    assert writes(sandbox) == 0
    assert post(make_app(**env, FORM_ALLOW_SVG="true")).status_code == 201


# --- probing ---------------------------------------------------------------------------------


def test_a_post_matching_a_draft_neither_reveals_nor_reuses_it(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    # GIVEN an unpublished draft made by an editor
    with sandbox.api() as api:
        [draft] = create_items(api, posts, [{"name": "Launch plan", "slug": "launch-plan"}])
    app = make_app(FORM_FIELDS="name", WEBFLOW_COLLECTION_ID=posts)
    # WHEN a visitor guesses its name
    response = _post(app, {"name": "Launch plan"})
    # THEN a new item of their own is made, and the draft's id appears nowhere in the answer
    assert response.status_code == 201
    result = response.get_json()["results"][0]
    assert result["status"] == "created"
    assert result["id"] != draft["id"]
    assert draft["id"] not in response.get_data(as_text=True)
    assert (
        len([i for i in list_items(sandbox, posts) if i["fieldData"]["name"] == "Launch plan"]) == 2
    )
