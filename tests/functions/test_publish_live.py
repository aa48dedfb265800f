"""Functional tests of publish-live: functions-framework test client against the sandbox."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.core.config import WebflowSettings, load_settings
from shared.webflow import get_client
from shared.webflow.pacing import reset_limiters
from tests.conftest import Sandbox
from tests.items_support import (
    RequestCounter,
    cms_locale_ids,
    create_items,
    function_app,
    get_item,
    post_fields,
    publish_items,
)
from tests.oidc_support import OidcIssuer, other_signer

API_KEY = "publish-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SCHEDULER = "publisher@project.iam.gserviceaccount.com"
UNKNOWN_ID = "0" * 24
AddPosts = Callable[..., list[dict[str, Any]]]


# The test client calls http://localhost/: the function's URL, which its tokens name as audience.
REQUEST_URL = "http://localhost/"


def _publish_app(oidc_issuer: OidcIssuer, **env: str) -> FlaskClient:
    """A fresh publish-live app with API_KEY, allowing SCHEDULER's tokens from the local signer."""
    return function_app(
        "publish-live",
        "publish_live",
        PUBLISH_API_KEYS=API_KEY,
        PUBLISH_ALLOWED_INVOKERS=SCHEDULER,
        PUBLISH_OIDC_CERTS_URL=oidc_issuer.certs_url,
        **{"PUBLISH_OIDC_AUDIENCE": REQUEST_URL, **env},
    )


@pytest.fixture
def app(webflow_env: dict[str, str], oidc_issuer: OidcIssuer) -> FlaskClient:
    """A fresh publish-live app pointed at the sandbox, trusting the local token signer."""
    return _publish_app(oidc_issuer)


def _scheduler_call(app: FlaskClient, token: str) -> tuple[int, dict[str, Any]]:
    response = app.post("/", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()


def _publish(app: FlaskClient, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    response = app.post("/", json=body, headers=AUTH)  # no body at all when body is None
    return response.status_code, response.get_json()


def _is_live(
    sandbox: Sandbox, collection_id: str, item_id: str, cms_locale_id: str | None = None
) -> bool:
    with sandbox.api() as api:
        path = f"/collections/{collection_id}/items/{item_id}/live"
        params = {"cmsLocaleId": cms_locale_id} if cms_locale_id else None
        return api.get(path, params=params).status_code == 200


# --- pending ------------------------------------------------------------------------------------


def test_empty_body_publishes_every_pending_item_and_nothing_else(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: 250 pending, 5 drafts, 3 archived, 2 already published
    pending = add_posts(250, "pending")
    drafts = add_posts(5, "draft", is_draft=True)
    archived = add_posts(3, "archived")
    done = add_posts(2, "done")
    with sandbox.api() as api:
        for item in archived:
            patch = {"items": [{"id": item["id"], "isArchived": True}]}
            api.patch(f"/collections/{posts}/items", json=patch).raise_for_status()
        publish_items(api, posts, [item["id"] for item in done])
    # Act
    status, body = _publish(app)
    # Assert
    assert status == 200
    assert sorted(body["published"]) == sorted(item["id"] for item in pending)
    assert (body["failed"], body["remaining"], body["dryRun"]) == ([], 0, False)
    assert not any(_is_live(sandbox, posts, item["id"]) for item in drafts + archived)


def test_a_second_run_finds_nothing_left(app: FlaskClient, add_posts: AddPosts) -> None:
    # Arrange
    add_posts(3, "pending")
    _publish(app, {"pending": True})
    # Act
    status, body = _publish(app, {"pending": True})
    # Assert
    assert (status, body["published"], body["remaining"]) == (200, [], 0)


def test_pending_changes_are_published_in_their_own_locales(
    app: FlaskClient, sandbox: Sandbox, posts: str
) -> None:
    # Arrange: two items published in three locales, then a French and a German change
    locales = cms_locale_ids(sandbox)
    _, french, german = locales
    with sandbox.api() as api:
        first, second = create_items(api, posts, post_fields("post", 2), cms_locale_ids=locales)
        publish_items(api, posts, [first["id"], second["id"]])
        # Timestamps have millisecond resolution: make the changes visibly later than the publish.
        time.sleep(0.005)
        changes = [
            {"id": first["id"], "cmsLocaleId": french, "fieldData": {"summary": "résumé"}},
            {
                "id": second["id"],
                "cmsLocaleId": german,
                "fieldData": {"summary": "Zusammenfassung"},
            },
        ]
        api.patch(f"/collections/{posts}/items", json={"items": changes}).raise_for_status()
    # Act
    status, body = _publish(app)
    # Assert
    assert status == 200
    assert sorted(body["published"]) == sorted([first["id"], second["id"]])
    with sandbox.api() as api:
        live_first = get_item(api, posts, first["id"], live=True, cms_locale_id=french)
        live_second = get_item(api, posts, second["id"], live=True, cms_locale_id=german)
    assert live_first["fieldData"]["summary"] == "résumé"
    assert live_second["fieldData"]["summary"] == "Zusammenfassung"


def test_items_pending_in_different_locales_share_one_publish_request(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: two new items, one in the primary and French locales, one in the primary and German
    primary, french, german = cms_locale_ids(sandbox)
    [first] = add_posts(1, "first", cms_locale_ids=[primary, french])
    [second] = add_posts(1, "second", cms_locale_ids=[primary, german])
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app)
    # Assert
    assert (status, sorted(body["published"])) == (200, sorted([first["id"], second["id"]]))
    assert counter.routes("POST", "/items/publish") == 1
    assert _is_live(sandbox, posts, first["id"], french)
    assert _is_live(sandbox, posts, second["id"], german)
    assert not _is_live(sandbox, posts, first["id"], german)


def test_250_new_items_in_three_locales_go_live_in_all_three_in_3_publish_requests(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: 750 pending variants
    locales = cms_locale_ids(sandbox)
    items = add_posts(250, cms_locale_ids=locales)
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app)
    # Assert: one listing across the locales (8 pages), each item published once in all three
    assert status == 200
    assert sorted(body["published"]) == sorted(item["id"] for item in items)
    assert counter.routes("GET", "/items") == 8
    assert counter.routes("POST", "/items/publish") == 3
    sample = [items[0], items[124], items[-1]]
    assert all(
        _is_live(sandbox, posts, item["id"], locale) for item in sample for locale in locales
    )


def test_dry_run_reports_pending_items_and_changes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(12, "pending")
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"dryRun": True})
    # Assert
    assert status == 200
    assert (body["published"], body["remaining"], body["dryRun"]) == ([], 12, True)
    assert sorted(entry["id"] for entry in body["pending"]) == sorted(item["id"] for item in items)
    assert counter.writes() == 0
    assert not any(_is_live(sandbox, posts, item["id"]) for item in items)


def test_1000_pending_items_cost_at_most_10_list_and_10_publish_requests(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(1000, "pending")
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app)
    # Assert
    assert status == 200
    assert len(body["published"]) == 1000
    assert counter.routes("GET", "/items") <= 10
    assert counter.routes("POST", "/items/publish") <= 10
    assert _is_live(sandbox, posts, items[-1]["id"])


# --- explicit ids ---------------------------------------------------------------------------------


def test_item_ids_publish_exactly_those_and_report_errors_per_item(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    first, second, untouched = add_posts(3)
    # Act
    status, body = _publish(app, {"itemIds": [first["id"], UNKNOWN_ID, second["id"]]})
    # Assert
    assert status == 200
    assert body["published"] == [first["id"], second["id"]]
    [failure] = body["failed"]
    assert failure["id"] == UNKNOWN_ID
    assert UNKNOWN_ID in failure["error"]
    assert not _is_live(sandbox, posts, untouched["id"])


def test_item_ids_with_locales_publish_only_those_locales(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    primary, french, german = cms_locale_ids(sandbox)
    [item] = add_posts(1, cms_locale_ids=[primary, french, german])
    # Act
    status, body = _publish(app, {"itemIds": [item["id"]], "cmsLocaleIds": [french]})
    # Assert
    assert (status, body["published"]) == (200, [item["id"]])
    assert [_is_live(sandbox, posts, item["id"], loc) for loc in (primary, french, german)] == [
        False,
        True,
        False,
    ]


def test_250_item_ids_go_out_in_3_publish_requests(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(250)
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"itemIds": [item["id"] for item in items]})
    # Assert
    assert (status, len(body["published"])) == (200, 250)
    assert counter.routes("POST", "/items/publish") == 3


# --- rate limit -----------------------------------------------------------------------------------


def test_rate_limit_reached_mid_run_stops_cleanly_and_reports_what_is_left(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange: 250 items need 3 publish requests; the token may make 2 a minute
    items = add_posts(250)
    sandbox.configure(rateLimitPerMinute=2)
    os.environ["PUBLISH_MAX_RUN_SECONDS"] = "3"
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"itemIds": [item["id"] for item in items]})
    # Assert: two chunks published, the third left for the next run, no retry storm
    assert status == 200
    assert (len(body["published"]), body["failed"], body["remaining"]) == (200, [], 50)
    assert body["stopped"]["reason"] == "rate_limited"
    assert counter.routes("POST", "/items/publish") <= 3
    assert sandbox.stats()["byStatus"].get("429", 0) <= 1


def test_rate_limit_used_up_by_another_client_costs_one_refused_request(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: another client of the same token has used this minute's requests
    items = add_posts(150)
    with sandbox.api() as api:
        sandbox.configure(rateLimitPerMinute=2)
        api.get(f"/collections/{posts}")
        api.get(f"/collections/{posts}")
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"itemIds": [item["id"] for item in items]})
    # Assert
    assert status == 200
    assert (body["published"], body["remaining"]) == ([], 150)
    assert body["stopped"]["retryAfter"] > 0
    assert counter.routes("POST", "/items/publish") == 1


def test_rate_limit_used_up_by_another_client_in_the_process_costs_no_request(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange: another function's client of the same token in this process used the minute
    items = add_posts(3)
    sandbox.configure(rateLimitPerMinute=2)
    neighbour = get_client(load_settings(WebflowSettings))
    neighbour.get_collection(posts)
    neighbour.get_collection(posts, refresh=True)
    os.environ["PUBLISH_MAX_RUN_SECONDS"] = "2"
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"itemIds": [item["id"] for item in items]})
    # Assert: the shared pacing knew the window was full; Webflow was not asked
    assert (status, body["published"], body["remaining"]) == (200, [], 3)
    assert body["stopped"]["reason"] == "rate_limited"
    assert counter.routes("POST", "/items/publish") == 0
    assert sandbox.stats()["byStatus"].get("429", 0) == 0


def test_rate_limit_during_the_scan_stops_before_publishing(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange: the token may make one request a minute, and the scan needs more
    add_posts(5)
    sandbox.configure(rateLimitPerMinute=1)
    os.environ["PUBLISH_MAX_RUN_SECONDS"] = "3"
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app)
    # Assert
    assert (status, body["published"]) == (200, [])
    assert body["stopped"]["reason"] == "rate_limited"
    assert body["stopped"]["phase"] == "scan"
    assert counter.routes("POST", "/items/publish") == 0


def test_a_run_stopped_by_the_rate_limit_keeps_its_progress_and_the_next_run_finishes(
    app: FlaskClient, sandbox: Sandbox, add_posts: AddPosts
) -> None:
    # Arrange: 250 pending items; five requests a minute cannot list and publish them all
    items = add_posts(250)
    sandbox.configure(rateLimitPerMinute=5)
    os.environ["PUBLISH_MAX_RUN_SECONDS"] = "3"
    # Act: one run under the limit, then the next run (a new instance) once the limit is lifted
    _, first = _publish(app)
    sandbox.configure(rateLimitPerMinute=0)
    # A new instance is a new process: the token's pacing state does not carry over.
    reset_limiters()
    _, second = _publish(function_app("publish-live", "publish_live"))
    # Assert: full batches went out during the scan; together the runs published everything once
    assert first["stopped"]["reason"] == "rate_limited"
    # The three creates that added the posts count in the same minute: one list and one publish
    # remain, so exactly one full batch went out.
    assert len(first["published"]) == 100
    assert "stopped" not in second
    assert sorted(first["published"] + second["published"]) == sorted(item["id"] for item in items)


# --- site -----------------------------------------------------------------------------------------

SITE_PUBLISH = "/sites/{site_id}/publish"


def test_site_publish_takes_queued_items_live(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    items = add_posts(3)
    # Act
    status, body = _publish(app, {"site": True})
    # Assert
    assert status == 200
    assert body["site"] == {"id": sandbox.site_id, "published": True}
    assert body["remaining"] == 0
    assert all(_is_live(sandbox, posts, item["id"]) for item in items)


def test_second_site_publish_within_a_minute_is_not_sent(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    # Arrange
    _publish(app, {"site": True})
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"site": True})
    # Assert: reported as left for later, and Webflow was not asked
    assert status == 200
    assert (body["site"]["published"], body["remaining"]) == (False, 1)
    assert body["stopped"]["reason"] == "rate_limited"
    assert 0 < body["stopped"]["retryAfter"] <= 60
    assert counter.routes("POST", SITE_PUBLISH) == 0


def test_site_publish_refused_by_webflow_is_reported_without_retrying(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    # Arrange: someone else published the site a moment ago
    with sandbox.api() as api:
        url = f"/sites/{sandbox.site_id}/publish"
        api.post(url, json={"publishToWebflowSubdomain": True}).raise_for_status()
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"site": True})
    # Assert
    assert status == 200
    assert (body["site"]["published"], body["remaining"]) == (False, 1)
    assert body["stopped"]["reason"] == "rate_limited"
    assert body["stopped"]["retryAfter"] > 0
    assert counter.routes("POST", SITE_PUBLISH) == 1


def test_site_dry_run_publishes_nothing(
    app: FlaskClient, sandbox: Sandbox, posts: str, add_posts: AddPosts
) -> None:
    # Arrange
    [item] = add_posts(1)
    counter = RequestCounter(sandbox)
    # Act
    status, body = _publish(app, {"site": True, "dryRun": True})
    # Assert
    assert (status, body["dryRun"], body["remaining"]) == (200, True, 1)
    assert counter.writes() == 0
    assert not _is_live(sandbox, posts, item["id"])


# --- auth ----------------------------------------------------------------------------------------


def test_allowed_scheduler_token_is_accepted(
    app: FlaskClient, sandbox: Sandbox, oidc_issuer: OidcIssuer
) -> None:
    status, _ = _scheduler_call(app, oidc_issuer.token(aud=REQUEST_URL, email=SCHEDULER))
    assert status == 200


def test_a_token_for_the_configured_audience_is_accepted(
    webflow_env: dict[str, str], sandbox: Sandbox, oidc_issuer: OidcIssuer
) -> None:
    audience = "https://europe-west1-project.cloudfunctions.net/wf-publish-live"
    app = _publish_app(oidc_issuer, PUBLISH_OIDC_AUDIENCE=audience)
    assert _scheduler_call(app, oidc_issuer.token(aud=audience, email=SCHEDULER))[0] == 200
    assert _scheduler_call(app, oidc_issuer.token(aud=REQUEST_URL, email=SCHEDULER))[0] == 401


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"aud": "https://another-service.example/"}, 401),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, 401),
        ({"iss": "https://issuer.example"}, 401),
        ({"email": "intruder@project.iam.gserviceaccount.com"}, 403),
        ({"email_verified": False}, 403),
    ],
    ids=["wrong-audience", "expired", "wrong-issuer", "not-allowed", "email-unverified"],
)
def test_a_token_failing_verification_is_refused_naming_authorization(
    app: FlaskClient,
    sandbox: Sandbox,
    oidc_issuer: OidcIssuer,
    claims: dict[str, Any],
    status: int,
) -> None:
    token = oidc_issuer.token(**{"aud": REQUEST_URL, "email": SCHEDULER, **claims})
    answer_status, body = _scheduler_call(app, token)
    assert answer_status == status
    assert [detail["field"] for detail in body["details"]] == ["Authorization"]
    assert sandbox.stats()["total"] == 0


def test_a_token_with_a_forged_signature_is_refused(
    app: FlaskClient, sandbox: Sandbox, oidc_issuer: OidcIssuer
) -> None:
    token = oidc_issuer.token(aud=REQUEST_URL, email=SCHEDULER, signer=other_signer())
    status, body = _scheduler_call(app, token)
    assert (status, body["code"]) == (401, "invalid_token")
    assert body["details"][0]["field"] == "Authorization"
    assert sandbox.stats()["total"] == 0


def test_a_well_formed_but_unsigned_token_is_refused(app: FlaskClient, sandbox: Sandbox) -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"email": SCHEDULER, "email_verified": True, "aud": REQUEST_URL}
    status, _ = _scheduler_call(app, f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln")
    assert status == 401
    assert sandbox.stats()["total"] == 0


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        # a header nested a thousand deep, then a payload nested so: each once made a 500
        _b64('{"alg": "RS256", "x": ' + "[" * 1500 + "]" * 1500 + "}") + "." + _b64("{}") + ".c2ln",
        _b64('{"alg": "RS256", "kid": "k"}') + "." + _b64("[" * 1500 + "]" * 1500) + ".c2ln",
        # longer than any Google ID token
        _b64('{"alg": "RS256"}') + "." + _b64('{"pad": "' + "x" * 9000 + '"}') + ".c2ln",
    ],
    ids=["deep-header", "deep-payload", "long"],
)
def test_a_hostile_token_is_a_plain_401(
    app: FlaskClient, sandbox: Sandbox, token: str, capfd: pytest.CaptureFixture[str]
) -> None:
    status, body = _scheduler_call(app, token)
    assert status == 401, body
    assert "Traceback" not in capfd.readouterr().out
    assert sandbox.stats()["total"] == 0


def test_an_api_key_still_works_when_invokers_are_allowed(
    app: FlaskClient, sandbox: Sandbox
) -> None:
    assert app.post("/", headers=AUTH).status_code == 200


def test_request_without_credentials_is_refused(app: FlaskClient) -> None:
    assert app.post("/").status_code == 401


def test_contradictory_body_is_400(app: FlaskClient) -> None:
    status, body = _publish(app, {"itemIds": [UNKNOWN_ID], "site": True})
    assert (status, body["code"]) == (400, "invalid_request")
