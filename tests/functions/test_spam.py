"""Spam protection through create-items and drain-intake, against a local siteverify of each
provider (devstack/siteverify.py): success, failure, reuse, another site, timeout, an outage, bots
without a token, the quarantine's listing and release."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from devstack.siteverify import SiteverifyServer
from tests.conftest import FakeGCS, Sandbox
from tests.create_items_support import ERROR_URL, ORIGIN, item_by_name, list_items, make_app
from tests.functions import test_intake as intake
from tests.functions.test_intake import (
    BROWSER,
    FORM,
    INTAKE_KEY,
    JSON_ACCEPT,
    drain_app,
    names,
    run_drain,
)
from webflow_cli.app import main as cli_main

SECRET = "captcha-secret-0123456789"
PROVIDERS = ("turnstile", "hcaptcha", "recaptcha")
FIELDS = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}
HOST = "www.example.com"  # ORIGIN's host: where the widget was solved
INTAKE = {"Authorization": f"Bearer {INTAKE_KEY}"}

env = intake.env


@pytest.fixture
def siteverify() -> Iterator[SiteverifyServer]:
    """The three providers' siteverify on a free loopback port, stopped when the test ends."""
    server = SiteverifyServer("127.0.0.1", 0, SECRET)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def token(server: SiteverifyServer, provider: str, **claims: Any) -> str:
    """A token as a visitor's solved widget posts it."""
    body = {"provider": provider, "hostname": HOST, **claims}
    answer = httpx.post(f"{server.url}/_fake/tokens", json=body, timeout=5)
    return str(answer.raise_for_status().json()["token"])


def configure(server: SiteverifyServer, **config: Any) -> None:
    httpx.post(f"{server.url}/_fake/config", json=config, timeout=5).raise_for_status()


def guarded(
    environment: dict[str, str], server: SiteverifyServer, provider: str, **more: str
) -> FlaskClient:
    """create-items with the provider's challenge."""
    return make_app(
        **{
            **environment,
            "FORM_CAPTCHA": provider,
            "FORM_CAPTCHA_SECRET": SECRET,
            "FORM_CAPTCHA_VERIFY_URL": server.verify_url(provider),
            "FORM_CAPTCHA_TIMEOUT_SECONDS": "0.5",
            "FORM_ERROR_URL": ERROR_URL,
            **more,
        }
    )


# --- each provider ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_solved_challenge_is_queued_and_written(
    provider: str,
    env: dict[str, str],
    siteverify: SiteverifyServer,
    gcs: FakeGCS,
    sandbox: Sandbox,
    submissions: str,
) -> None:
    app = guarded(env, siteverify, provider)
    data = {**FORM, FIELDS[provider]: token(siteverify, provider, score=0.9)}
    response = app.post("/", data=data, headers=JSON_ACCEPT)
    assert response.status_code == 202, response.get_json()
    assert run_drain()["created"] == 1
    item = item_by_name(sandbox, submissions, FORM["Name"])
    assert item is not None
    assert FIELDS[provider] not in str(item["fieldData"])  # the token is no field value


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_failed_reused_or_foreign_token_is_403_naming_the_reason(
    provider: str, env: dict[str, str], siteverify: SiteverifyServer, gcs: FakeGCS
) -> None:
    app = guarded(env, siteverify, provider)
    field = FIELDS[provider]

    forged = app.post("/", data={**FORM, field: f"{provider}.forged"}, headers=JSON_ACCEPT)
    assert forged.status_code == 403
    assert forged.get_json()["code"] == "captcha_failed"
    assert forged.get_json()["details"][0]["field"] == field
    assert "invalid-input-response" in forged.get_json()["message"]

    good = token(siteverify, provider, score=0.9)
    assert app.post("/", data={**FORM, field: good}, headers=JSON_ACCEPT).status_code == 202
    again = app.post("/", data={**FORM, "Name": "Again", field: good}, headers=JSON_ACCEPT)
    assert again.status_code == 403  # this instance took it already
    # Another instance asks the provider, which says the token is spent.
    other = guarded(env, siteverify, provider)
    spent = other.post("/", data={**FORM, "Name": "Spent", field: good}, headers=JSON_ACCEPT)
    assert spent.status_code == 403
    reused = "invalid-or-already-seen-response" if provider == "hcaptcha" else "timeout-or-dup"
    assert reused in spent.get_json()["message"]

    foreign = token(siteverify, provider, hostname="evil.example", score=0.9)
    elsewhere = app.post("/", data={**FORM, "Name": "X", field: foreign}, headers=JSON_ACCEPT)
    assert elsewhere.status_code == 403
    assert "another site" in elsewhere.get_json()["message"]
    assert len(names(gcs, "intake/pending/")) == 1  # only the good one


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_outage_or_timeout_follows_the_failure_setting(
    provider: str, env: dict[str, str], siteverify: SiteverifyServer, gcs: FakeGCS
) -> None:
    field = FIELDS[provider]
    reject = guarded(env, siteverify, provider)
    configure(siteverify, outage=True)
    solved = token(siteverify, provider)
    down = reject.post("/", data={**FORM, field: solved}, headers=JSON_ACCEPT)
    assert (down.status_code, down.get_json()["code"]) == (503, "captcha_unavailable")
    assert int(down.headers["Retry-After"]) > 0
    # The visitor retries the 503 once the provider is back: the same token still counts.
    configure(siteverify, outage=False)
    retried = reject.post("/", data={**FORM, field: solved}, headers=JSON_ACCEPT)
    assert retried.status_code == 202, retried.get_json()
    configure(siteverify, outage=True)

    configure(siteverify, outage=False, delayMs=1500)  # longer than the 0.5 s timeout
    slow = reject.post(
        "/", data={**FORM, "Name": "Slow", field: token(siteverify, provider)}, headers=JSON_ACCEPT
    )
    assert slow.status_code == 503
    configure(siteverify, delayMs=0, outage=True)

    quarantine = guarded(env, siteverify, provider, FORM_CAPTCHA_FAILURE="quarantine")
    kept = quarantine.post(
        "/", data={**FORM, field: token(siteverify, provider)}, headers=JSON_ACCEPT
    )
    assert kept.status_code == 202  # answered as any post
    configure(siteverify, outage=False)
    assert len(names(gcs, "intake/pending/")) == 1  # the retried one
    [spam] = names(gcs, "intake/spam/")
    assert gcs.bucket.get_blob(spam).metadata["intake-error"].startswith("captcha: provider")


def test_a_low_recaptcha_score_or_another_action_fails(
    env: dict[str, str], siteverify: SiteverifyServer
) -> None:
    app = guarded(env, siteverify, "recaptcha", FORM_CAPTCHA_ACTION="contact")
    field = FIELDS["recaptcha"]
    low = token(siteverify, "recaptcha", score=0.2, action="contact")
    answer = app.post("/", data={**FORM, field: low}, headers=JSON_ACCEPT).get_json()
    assert "score" in answer["message"]
    other = token(siteverify, "recaptcha", score=0.9, action="login")
    answer = app.post("/", data={**FORM, field: other}, headers=JSON_ACCEPT).get_json()
    assert "action" in answer["message"]


def test_a_browser_failing_the_challenge_goes_to_the_error_page(
    env: dict[str, str], siteverify: SiteverifyServer
) -> None:
    app = guarded(env, siteverify, "turnstile")
    response = app.post("/", data=FORM, headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(ERROR_URL)


# --- bots and the quarantine -----------------------------------------------------------------


def test_a_bot_without_a_token_makes_no_item_and_its_post_is_quarantined_then_released(
    env: dict[str, str],
    siteverify: SiteverifyServer,
    gcs: FakeGCS,
    sandbox: Sandbox,
    submissions: str,
) -> None:
    app = guarded(env, siteverify, "turnstile", FORM_CAPTCHA_FAILURE="quarantine")
    bot = {"Origin": ORIGIN, "Accept": "application/json"}
    for n in range(3):
        assert app.post("/", data={**FORM, "Name": f"Bot {n}"}, headers=bot).status_code == 202
    run_drain()
    assert list_items(sandbox, submissions) == []  # held-out bots: no item

    listed = drain_app().get("/?state=spam", headers=INTAKE).get_json()["spam"]
    assert len(listed) == 3
    assert {e["reason"] for e in listed} == {"captcha: missing token"}
    assert drain_app().get("/", headers=INTAKE).get_json()["spam"] == 3

    one = listed[0]["id"]
    released = drain_app().post("/", json={"release": [one]}, headers=INTAKE).get_json()
    assert released == {"released": [one]}
    assert run_drain()["created"] == 1
    assert len(list_items(sandbox, submissions)) == 1
    assert len(names(gcs, "intake/spam/")) == 2


def test_the_honeypot_keywords_and_links_quarantine_and_the_command_releases(
    env: dict[str, str],
    gcs: FakeGCS,
    sandbox: Sandbox,
    submissions: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_app(**{**env, "FORM_SPAM_KEYWORDS": "casino,crypto", "FORM_SPAM_MAX_LINKS": "1"})
    posts = {
        "honeypot": {**FORM, "Name": "Pot", "_gotcha": "x"},
        "keyword: casino": {**FORM, "Name": "Kw", "Message": "Best CASINO bonus"},
        "more than 1 links": {**FORM, "Name": "Ln", "Message": "http://a.example www.b.example"},
    }
    for data in posts.values():
        assert app.post("/", data=data, headers=JSON_ACCEPT).status_code == 202
    assert app.post("/", data={**FORM, "Name": "Fine"}, headers=JSON_ACCEPT).status_code == 202
    assert run_drain()["created"] == 1
    reasons = {
        gcs.bucket.get_blob(name).metadata["intake-error"] for name in names(gcs, "intake/spam/")
    }
    assert reasons == set(posts)

    capsys.readouterr()
    assert cli_main(["intake", "spam"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {entry["reason"] for entry in listed if "reason" in entry} == set(posts)
    assert cli_main(["intake", "release", "--all"]) == 0
    assert run_drain()["created"] == 3
    assert names(gcs, "intake/spam/") == []
