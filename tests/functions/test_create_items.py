"""Functional tests of create-items' JSON API: functions-framework test client against the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.webflow.pacing import reset_limiters
from tests.conftest import Sandbox
from tests.create_items_support import (
    API_KEY,
    AUTH,
    ORIGIN,
    OTHER_KEY,
    item_by_slug,
    list_items,
    make_app,
    writes,
)

NEWS = "8f6c1a2b3c4d5e6f7a8b9c01"
GUIDES = "8f6c1a2b3c4d5e6f7a8b9c02"


@pytest.fixture
def app(webflow_env: dict[str, str]) -> FlaskClient:
    """create-items pointed at the sandbox's posts collection."""
    return make_app()


def create(
    app: FlaskClient, items: list[dict[str, Any]], **body: Any
) -> tuple[int, dict[str, Any]]:
    response = app.post("/", json={"items": items, **body}, headers=AUTH)
    return response.status_code, response.get_json()


# --- creating --------------------------------------------------------------------------------


def test_items_are_created_with_coerced_values_and_reported_in_order(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    status, body = create(
        app,
        [
            {"fieldData": {"name": "No Entrar en Pánico", "category": "guides", "rating": "4.5"}},
            {"fieldData": {"name": "Second", "featured": "on", "published-on": "2024-05-01"}},
        ],
    )
    assert status == 201
    assert [(r["index"], r["status"], r["slug"]) for r in body["results"]] == [
        (0, "created", "no-entrar-en-panico"),
        (1, "created", "second"),
    ]
    first = item_by_slug(sandbox, posts, "no-entrar-en-panico")
    assert first is not None
    assert first["id"] == body["results"][0]["id"]
    assert first["fieldData"]["category"] == GUIDES
    assert first["fieldData"]["rating"] == 4.5
    second = item_by_slug(sandbox, posts, "second")
    assert second is not None
    assert second["fieldData"]["featured"] is True
    assert second["fieldData"]["published-on"] == "2024-05-01T00:00:00.000Z"


def test_items_are_queued_to_publish_unless_drafts_are_configured(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    create(make_app(), [{"fieldData": {"name": "Queued"}}])
    create(make_app(CREATE_AS_DRAFT="true"), [{"fieldData": {"name": "Drafted"}}])
    assert item_by_slug(sandbox, posts, "queued")["isDraft"] is False  # type: ignore[index]
    assert item_by_slug(sandbox, posts, "drafted")["isDraft"] is True  # type: ignore[index]


def test_an_item_may_ask_for_a_draft(app: FlaskClient, sandbox: Sandbox, posts: str) -> None:
    create(app, [{"fieldData": {"name": "Mine"}, "isDraft": True}])
    assert item_by_slug(sandbox, posts, "mine")["isDraft"] is True  # type: ignore[index]


def test_live_creation_publishes_the_item(app: FlaskClient, sandbox: Sandbox, posts: str) -> None:
    status, body = create(app, [{"fieldData": {"name": "Straight Live"}}], live=True)
    assert status == 201
    with sandbox.api() as api:
        live = api.get(f"/collections/{posts}/items/{body['results'][0]['id']}/live")
    assert live.status_code == 200


def test_a_collection_can_be_named_in_the_call(
    app: FlaskClient, sandbox: Sandbox, submissions: str
) -> None:
    item = {"name": "Ada", "email": "ada@example.com", "message": "Hello"}
    status, _ = create(app, [{"fieldData": item}], collectionId=submissions)
    assert status == 201
    assert item_by_slug(sandbox, submissions, "ada") is not None


# --- idempotency by slug ---------------------------------------------------------------------


def test_an_identical_resubmission_is_existing_and_writes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    items = [{"fieldData": {"name": f"Post {n}", "summary": "same"}} for n in range(3)]
    _, first = create(app, items)
    before = len(list_items(sandbox, posts))
    status, again = create(app, items)
    assert status == 200
    assert [r["status"] for r in again["results"]] == ["existing"] * 3
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert len(list_items(sandbox, posts)) == before


def test_a_different_item_with_a_taken_name_gets_a_numbered_slug(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    create(app, [{"fieldData": {"name": "Launch", "summary": "first"}}])
    _, second = create(app, [{"fieldData": {"name": "Launch", "summary": "second"}}])
    _, third = create(app, [{"fieldData": {"name": "Launch", "summary": "third"}}])
    assert second["results"][0]["slug"] == "launch-2"
    assert third["results"][0]["slug"] == "launch-3"
    assert item_by_slug(sandbox, posts, "launch-3")["fieldData"]["summary"] == "third"  # type: ignore[index]


def test_resubmitting_a_numbered_item_finds_it(app: FlaskClient) -> None:
    create(app, [{"fieldData": {"name": "Launch", "summary": "first"}}])
    create(app, [{"fieldData": {"name": "Launch", "summary": "second"}}])
    status, again = create(app, [{"fieldData": {"name": "Launch", "summary": "second"}}])
    assert status == 200
    assert again["results"][0] == {**again["results"][0], "status": "existing", "slug": "launch-2"}


def test_the_same_item_twice_in_one_call_is_created_once(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    item = {"fieldData": {"name": "Twin", "summary": "x"}}
    status, body = create(app, [item, item])
    assert status == 201
    assert [r["status"] for r in body["results"]] == ["created", "existing"]
    assert body["results"][0]["id"] == body["results"][1]["id"]
    assert [i["fieldData"]["slug"] for i in list_items(sandbox, posts)].count("twin") == 1


def test_two_different_items_with_one_name_in_one_call_get_two_slugs(app: FlaskClient) -> None:
    status, body = create(
        app,
        [
            {"fieldData": {"name": "Pair", "summary": "a"}},
            {"fieldData": {"name": "Pair", "summary": "b"}},
        ],
    )
    assert status == 201
    assert [r["slug"] for r in body["results"]] == ["pair", "pair-2"]


# --- volume ----------------------------------------------------------------------------------


def test_5000_items_take_at_most_51_webflow_requests(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    items = [{"fieldData": {"name": f"Bulk item {n}", "rating": n % 5}} for n in range(5000)]
    before = sandbox.stats()["total"]
    status, body = create(app, items)
    requests = sandbox.stats()["total"] - before
    assert status == 201
    assert body["created"] == 5000
    assert requests <= 51, requests
    assert len(list_items(sandbox, posts)) >= 5000


def test_10001_items_are_refused_before_anything_is_sent(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    items = [{"fieldData": {"name": f"n{n}"}} for n in range(10_001)]
    status, body = create(app, items)
    assert status == 400
    assert body["details"][0]["field"] == "items"
    assert sandbox.stats()["total"] == 0


def test_max_items_per_call_can_be_lowered(webflow_env: dict[str, str]) -> None:
    status, body = create(make_app(MAX_ITEMS_PER_CALL="2"), [{"fieldData": {"name": "x"}}] * 3)
    assert (status, body["code"]) == (400, "too_many_items")


# --- authentication --------------------------------------------------------------------------


def test_a_missing_api_key_is_401_and_writes_nothing(app: FlaskClient, sandbox: Sandbox) -> None:
    response = app.post("/", json={"items": [{"fieldData": {"name": "x"}}]})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert writes(sandbox) == 0


def test_a_wrong_api_key_is_401(app: FlaskClient, sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}x"}
    response = app.post("/", json={"items": [{"fieldData": {"name": "x"}}]}, headers=headers)
    assert response.status_code == 401
    assert writes(sandbox) == 0


def test_every_configured_api_key_works(app: FlaskClient) -> None:
    headers = {"Authorization": f"Bearer {OTHER_KEY}"}
    response = app.post(
        "/", json={"items": [{"fieldData": {"name": "Other key"}}]}, headers=headers
    )
    assert response.status_code == 201


def test_api_keys_never_reach_the_logs(
    app: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    app.post(
        "/",
        json={"items": [{"fieldData": {"name": "x"}}]},
        headers={"Authorization": "Bearer wrong-key-000"},
    )
    app.post("/", data="{", content_type="application/json", headers=AUTH)
    logged = capsys.readouterr().out
    assert logged
    assert API_KEY not in logged
    assert OTHER_KEY not in logged
    assert "wrong-key-000" not in logged


# --- bad input -------------------------------------------------------------------------------


def test_malformed_json_is_400(app: FlaskClient, sandbox: Sandbox) -> None:
    response = app.post("/", data='{"items": [', content_type="application/json", headers=AUTH)
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_json")
    assert sandbox.stats()["total"] == 0


def test_a_wrong_content_type_is_415(app: FlaskClient) -> None:
    response = app.post("/", data="name=x", content_type="text/plain", headers=AUTH)
    assert (response.status_code, response.get_json()["code"]) == (415, "unsupported_media_type")


def test_a_body_over_the_limit_is_413(webflow_env: dict[str, str], sandbox: Sandbox) -> None:
    app = make_app(MAX_BODY_BYTES="1000")
    response = app.post("/", json={"items": [{"fieldData": {"name": "x" * 2000}}]}, headers=AUTH)
    assert response.status_code == 413
    assert sandbox.stats()["total"] == 0


def test_get_is_405(app: FlaskClient) -> None:
    response = app.get("/")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_an_unknown_field_of_a_json_call_is_refused_naming_it_with_the_closest_field(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    # GIVEN a typo ("sumary") and a field the collection has nothing like
    items = [{"fieldData": {"name": "Typo", "sumary": "x", "colour": "red"}}]
    # WHEN a JSON call sends them THEN the call is refused whole, each field named
    status, body = create(app, items)
    assert status == 400
    assert sorted(body["details"], key=lambda detail: detail["field"]) == [
        {"field": "colour", "message": "is not a field of this collection"},
        {
            "field": "sumary",
            "message": "is not a field of this collection; did you mean `summary`?",
        },
    ]
    assert writes(sandbox) == 0


def test_a_suggestion_comes_from_display_names_too(app: FlaskClient) -> None:
    # "Published On" is the display name of published-on
    status, body = create(app, [{"fieldData": {"name": "x", "Publishd On": "2024-01-01"}}])
    assert status == 400
    assert body["details"][0]["message"].endswith("did you mean `published-on`?")


def test_unknown_fields_are_dropped_when_configured(
    webflow_env: dict[str, str], sandbox: Sandbox, posts: str
) -> None:
    app = make_app(UNMAPPED_FIELDS="json=drop")
    status, body = create(app, [{"fieldData": {"name": "Dropped", "sumary": "x", "colour": "red"}}])
    assert status == 201
    assert sorted(body["results"][0]["ignoredFields"]) == ["colour", "sumary"]
    assert "colour" not in item_by_slug(sandbox, posts, "dropped")["fieldData"]  # type: ignore[index]


def test_a_result_without_dropped_fields_has_no_ignored_list(webflow_env: dict[str, str]) -> None:
    app = make_app(UNMAPPED_FIELDS="drop")
    _, body = create(app, [{"fieldData": {"name": "Clean", "summary": "x"}}])
    assert "ignoredFields" not in body["results"][0]


def test_a_collection_that_does_not_exist_is_422_naming_collection_id(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    status, body = create(app, [{"fieldData": {"name": "x"}}], collectionId="0" * 24)
    assert status == 422
    assert body["code"] == "collection_not_found"
    assert [detail["field"] for detail in body["details"]] == ["collectionId"]
    assert writes(sandbox) == 0


def test_a_missing_required_field_is_400(app: FlaskClient, sandbox: Sandbox) -> None:
    status, body = create(app, [{"fieldData": {"summary": "no name"}}])
    assert status == 400
    assert body["details"] == [{"field": "name", "message": "is required"}]
    assert writes(sandbox) == 0


def test_a_bad_email_is_400(app: FlaskClient, submissions: str) -> None:
    item = {"name": "Ada", "email": "ada-at-example", "message": "Hi"}
    status, body = create(app, [{"fieldData": item}], collectionId=submissions)
    assert status == 400
    assert body["details"] == [{"field": "email", "message": "must be a valid email address"}]


def test_an_option_name_that_does_not_exist_is_400(app: FlaskClient, sandbox: Sandbox) -> None:
    status, body = create(app, [{"fieldData": {"name": "x", "category": "Gossip"}}])
    assert status == 400
    assert body["details"] == [
        {"field": "category", "message": "must be one of: News, Guides, Releases"}
    ]
    assert writes(sandbox) == 0


def test_errors_of_several_items_name_each_item(app: FlaskClient) -> None:
    status, body = create(
        app, [{"fieldData": {"summary": "a"}}, {"fieldData": {"name": "b", "rating": "x"}}]
    )
    assert status == 400
    assert [d["field"] for d in body["details"]] == [
        "items[0].fieldData.name",
        "items[1].fieldData.rating",
    ]


def test_valid_items_are_created_when_others_are_invalid(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    status, body = create(
        app, [{"fieldData": {"name": "Fine"}}, {"fieldData": {"name": "Bad", "rating": -3}}]
    )
    assert status == 207
    assert [r["status"] for r in body["results"]] == ["created", "failed"]
    assert body["results"][1]["error"]["details"] == [
        {"field": "rating", "message": "must not be negative"}
    ]
    assert item_by_slug(sandbox, posts, "fine") is not None
    assert item_by_slug(sandbox, posts, "bad") is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        "items",
        {"items": "x"},
        {"items": []},
        {"items": [None]},
        {"items": [{"fieldData": []}]},
        {"items": [{"fieldData": {"name": {"nested": True}}}]},
        {"items": [{"fieldData": {"name": "x", "rating": 1e400}}]},
        {"items": [{"fieldData": {"name": "x", "published-on": "2024-13-45"}}]},
        {"items": [{"fieldData": {"name": "\u0000"}}]},
        {"items": [{"fieldData": {"name": "x"}, "cmsLocaleIds": "en"}]},
        {"items": [{"fieldData": {"name": "x"}}], "collectionId": "000000000000000000000000"},
        {"items": [{"fieldData": {"name": "x"}}], "unexpected": 1},
    ],
)
def test_bad_input_is_never_a_500(app: FlaskClient, body: Any) -> None:
    response = app.post("/", data=json.dumps(body), content_type="application/json", headers=AUTH)
    assert 400 <= response.status_code < 500, response.get_json()
    assert set(response.get_json()) >= {"code", "message"}


# --- Webflow failing -------------------------------------------------------------------------


def test_webflow_unavailable_is_503_with_retry_after(app: FlaskClient, sandbox: Sandbox) -> None:
    sandbox.configure(faults={"errorRate": 1.0})
    status_response = app.post("/", json={"items": [{"fieldData": {"name": "x"}}]}, headers=AUTH)
    assert status_response.status_code == 503
    assert int(status_response.headers["Retry-After"]) > 0
    assert status_response.get_json()["code"] == "upstream_unavailable"


def test_webflow_rate_limit_is_503_with_retry_after(app: FlaskClient, sandbox: Sandbox) -> None:
    sandbox.configure(faults={"rateLimitRate": 1.0})
    response = app.post("/", json={"items": [{"fieldData": {"name": "x"}}]}, headers=AUTH)
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_rate_limit_after_the_first_chunk_reports_what_was_created_with_retry_after(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: 150 items need a schema read and two creates; the token may make two a minute
    items = [{"fieldData": {"name": f"Batch {n}"}} for n in range(150)]
    sandbox.configure(rateLimitPerMinute=2)
    # Act
    response = app.post("/", json={"items": items}, headers=AUTH)
    # Assert: the first hundred are reported created, the rest unsent, come back later
    body = response.get_json()
    assert (response.status_code, int(response.headers["Retry-After"]) > 0) == (207, True)
    assert (body["created"], body["failed"]) == (100, 50)
    assert {r["status"] for r in body["results"][:100]} == {"created"}
    assert {r["error"]["code"] for r in body["results"][100:]} == {"upstream_unavailable"}
    sandbox.configure(rateLimitPerMinute=0)
    stored = {
        item["id"]
        for item in list_items(sandbox, posts)
        if item["fieldData"]["name"].startswith("Batch")
    }
    assert stored == {r["id"] for r in body["results"][:100]}


def test_rate_limit_while_resolving_a_taken_slug_still_reports_what_was_created(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: another item holds the first slug; the token may make three requests a minute
    # (schema, the refused create, the create of the 99 others), none left to look up the holder
    with sandbox.api() as api:
        taken = {"fieldData": {"name": "Someone Else", "slug": "batch-0"}, "isDraft": False}
        api.post(f"/collections/{posts}/items", json=taken).raise_for_status()
    items = [{"fieldData": {"name": f"Batch {n}"}} for n in range(100)]
    sandbox.configure(rateLimitPerMinute=3)
    # Act
    response = app.post("/", json={"items": items}, headers=AUTH)
    # Assert: the 99 created are reported, the colliding one is left for a retry
    body = response.get_json()
    assert (response.status_code, "Retry-After" in response.headers) == (207, True)
    assert (body["created"], body["failed"]) == (99, 1)
    assert body["results"][0]["error"]["code"] == "upstream_unavailable"


def test_the_whole_call_retried_after_a_mid_call_rate_limit_creates_no_duplicates(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: a first call stopped by the rate limit after its first chunk
    items = [{"fieldData": {"name": f"Batch {n}"}} for n in range(150)]
    sandbox.configure(rateLimitPerMinute=2)
    first = app.post("/", json={"items": items}, headers=AUTH).get_json()
    sandbox.configure(rateLimitPerMinute=0)
    reset_limiters()
    # Act: the caller sends the whole call again (to a fresh instance)
    status, body = create(make_app(), items)
    # Assert: the earlier hundred are found, the rest created, nothing twice
    assert (status, body["existing"], body["created"], body["failed"]) == (201, 100, 50, 0)
    assert [r["id"] for r in body["results"][:100]] == [r["id"] for r in first["results"][:100]]
    slugs = [
        item["fieldData"]["slug"]
        for item in list_items(sandbox, posts)
        if item["fieldData"]["name"].startswith("Batch")
    ]
    assert sorted(slugs) == sorted(f"batch-{n}" for n in range(150))


def test_an_unknown_token_is_502_not_blamed_on_the_caller(
    webflow_env: dict[str, str], sandbox: Sandbox
) -> None:
    app = make_app(WEBFLOW_API_TOKEN="not-a-real-token")
    response = app.post("/", json={"items": [{"fieldData": {"name": "x"}}]}, headers=AUTH)
    assert (response.status_code, response.get_json()["code"]) == (502, "upstream_not_authorized")


# --- CORS on the JSON API --------------------------------------------------------------------


def test_json_answers_carry_cors_for_allowed_origins(app: FlaskClient) -> None:
    headers = {**AUTH, "Origin": ORIGIN}
    response = app.post("/", json={"items": [{"fieldData": {"name": "Cors"}}]}, headers=headers)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
