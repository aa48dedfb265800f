"""Unit tests of shared/cms/publishing.py: pending rule, request modes, settings, auth, site gate."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import flask
import pytest
from pydantic import ValidationError
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from shared.cms.publishing import (
    PublishReport,
    PublishRequest,
    PublishSettings,
    SitePublishGate,
    has_unpublished_changes,
    publish_site,
)
from shared.core.config import ConfigError, load_settings
from shared.core.problems import Problem
from shared.web.http import scheduler_invoker, to_app_error
from shared.webflow.errors import InternalServerError
from shared.webflow.models import Item
from tests.oidc_support import OidcIssuer

EARLY = "2025-07-01T10:00:00.000Z"
LATE = "2025-07-01T10:00:01.000Z"
TOKEN = "wf-token-for-tests"


def _item(**state: object) -> Item:
    return Item.model_validate({"id": "a" * 24, "fieldData": {"name": "x", "slug": "x"}, **state})


# --- what is pending -----------------------------------------------------------------------------


def test_never_published_item_that_is_not_a_draft_is_pending() -> None:
    assert has_unpublished_changes(_item(isDraft=False, lastPublished=None, lastUpdated=EARLY))


def test_never_published_draft_is_not_pending() -> None:
    assert not has_unpublished_changes(_item(isDraft=True, lastPublished=None, lastUpdated=EARLY))


def test_item_updated_after_its_last_publish_is_pending() -> None:
    assert has_unpublished_changes(_item(lastPublished=EARLY, lastUpdated=LATE))


def test_item_published_after_its_last_update_is_not_pending() -> None:
    assert not has_unpublished_changes(_item(lastPublished=LATE, lastUpdated=EARLY))


def test_item_published_at_its_last_update_is_not_pending() -> None:
    assert not has_unpublished_changes(_item(lastPublished=EARLY, lastUpdated=EARLY))


def test_archived_item_is_never_pending() -> None:
    assert not has_unpublished_changes(
        _item(isArchived=True, lastPublished=None, lastUpdated=EARLY)
    )


def test_changes_in_draft_on_a_published_item_are_not_pending() -> None:
    assert not has_unpublished_changes(_item(isDraft=True, lastPublished=EARLY, lastUpdated=LATE))


def test_timestamps_compare_as_instants_not_text() -> None:
    # 12:00+02:00 is 10:00Z: the update one second later is pending, though as text it sorts first.
    published, updated = "2025-07-01T12:00:00+02:00", "2025-07-01T10:00:01Z"
    assert has_unpublished_changes(_item(lastPublished=published, lastUpdated=updated))


# --- request modes -------------------------------------------------------------------------------


def test_empty_body_means_pending() -> None:
    assert PublishRequest.model_validate({}).mode == "pending"


def test_item_ids_mode() -> None:
    request = PublishRequest.model_validate({"itemIds": ["a" * 24], "cmsLocaleIds": ["b" * 24]})
    assert (request.mode, request.cms_locale_ids) == ("items", ["b" * 24])


def test_site_mode_with_dry_run() -> None:
    request = PublishRequest.model_validate({"site": True, "dryRun": True})
    assert (request.mode, request.dry_run) == ("site", True)


@pytest.mark.parametrize(
    "body",
    [
        {"itemIds": ["a" * 24], "site": True},
        {"pending": True, "site": True},
        {"itemIds": []},
        {"itemIds": [" "]},
        {"cmsLocaleIds": ["l1"]},
        {"unknown": True},
    ],
)
def test_contradictory_or_malformed_bodies_are_rejected(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PublishRequest.model_validate(body)


# --- settings ------------------------------------------------------------------------------------


def _load(**overrides: str) -> PublishSettings:
    """Settings with the token and WEBFLOW_COLLECTION_ID c1, then ``overrides``."""
    return load_settings(
        PublishSettings, **{"webflow_api_token": TOKEN, "webflow_collection_id": "c1", **overrides}
    )


def test_collections_default_to_webflow_collection_id() -> None:
    assert _load().collection_ids == ["c1"]


def test_publish_collection_ids_are_split_and_deduplicated() -> None:
    assert _load(publish_collection_ids="c2, c3,c2").collection_ids == ["c2", "c3"]


def test_missing_collections_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="PUBLISH_COLLECTION_IDS"):
        load_settings(PublishSettings, webflow_api_token=TOKEN, webflow_collection_id=None)


@pytest.mark.parametrize("seconds", ["0", "-1", "soon"])
def test_run_deadline_must_be_a_positive_number(seconds: str) -> None:
    with pytest.raises(ConfigError, match="PUBLISH_MAX_RUN_SECONDS"):
        _load(publish_max_run_seconds=seconds)


def test_api_keys_fall_back_to_create_items_keys() -> None:
    settings = _load(create_items_api_keys="key-one-0123456789,key-two-0123456789")
    assert settings.api_keys == ["key-one-0123456789", "key-two-0123456789"]


def test_own_api_keys_win_over_create_items_keys() -> None:
    settings = _load(
        create_items_api_keys="key-one-0123456789", publish_api_keys="own-key-0123456789"
    )
    assert settings.api_keys == ["own-key-0123456789"]


def test_api_keys_stay_out_of_the_settings_repr() -> None:
    settings = _load(publish_api_keys="secret-key-0123456789")
    assert "secret-key-0123456789" not in repr(settings)


# --- scheduler identity --------------------------------------------------------------------------

SCHEDULER = "scheduler@project.iam.gserviceaccount.com"
FUNCTION_URL = "https://publish.example/"


def _settings(issuer: OidcIssuer, **overrides: str) -> PublishSettings:
    options = {
        "publish_allowed_invokers": SCHEDULER,
        "publish_oidc_certs_url": issuer.certs_url,
        "publish_oidc_audience": FUNCTION_URL,
    }
    return _load(**{**options, **overrides})


def _request(authorization: str, url: str = FUNCTION_URL, **headers: str) -> flask.Request:
    sent: dict[str, str] = {"Authorization": authorization, **headers}
    parts = urlsplit(url)
    environ = EnvironBuilder(
        path=parts.path,
        base_url=f"{parts.scheme}://{parts.netloc}",
        query_string=parts.query,
        method="POST",
        headers=Headers(sent),
    )
    return flask.Request(environ.get_environ())


def test_a_verified_token_of_an_allowed_invoker_names_it(oidc_issuer: OidcIssuer) -> None:
    request = _request(f"Bearer {oidc_issuer.token()}")
    assert scheduler_invoker(request, _settings(oidc_issuer)) == SCHEDULER


def test_invokers_without_an_audience_fail_at_start(oidc_issuer: OidcIssuer) -> None:
    # Otherwise the accepted audience would come from the request's Host header.
    with pytest.raises(ConfigError, match="PUBLISH_OIDC_AUDIENCE: is required with"):
        _settings(oidc_issuer, publish_oidc_audience="")


def test_a_token_for_another_audience_is_refused(oidc_issuer: OidcIssuer) -> None:
    token = oidc_issuer.token(aud="https://other.example/")
    with pytest.raises(Problem) as raised:
        scheduler_invoker(_request(f"Bearer {token}"), _settings(oidc_issuer))
    assert to_app_error(raised.value).status == 401


def test_the_host_a_request_names_does_not_choose_the_audience(oidc_issuer: OidcIssuer) -> None:
    # GIVEN a token minted for the attacker's own host, sent with that host in the request
    token = oidc_issuer.token(aud="https://attacker.example/")
    request = _request(f"Bearer {token}", "https://attacker.example/")
    # THEN only the configured audience counts
    with pytest.raises(Problem) as raised:
        scheduler_invoker(request, _settings(oidc_issuer))
    assert to_app_error(raised.value).status == 401


def test_the_configured_audience_is_accepted(oidc_issuer: OidcIssuer) -> None:
    audience = "https://europe-west1-project.cloudfunctions.net/wf-publish-live"
    settings = _settings(oidc_issuer, publish_oidc_audience=audience)
    request = _request(f"Bearer {oidc_issuer.token(aud=audience)}")
    assert scheduler_invoker(request, settings) == SCHEDULER
    with pytest.raises(Problem):
        scheduler_invoker(_request(f"Bearer {oidc_issuer.token(aud=FUNCTION_URL)}"), settings)


@pytest.mark.parametrize(
    "header", ["", "Bearer an-api-key-0123456789", "Basic x.y.z", "Bearer a.!!!.c"]
)
def test_values_that_are_no_token_are_left_to_the_api_key_check(
    oidc_issuer: OidcIssuer, header: str
) -> None:
    assert scheduler_invoker(_request(header), _settings(oidc_issuer)) is None


def test_no_allowed_invokers_takes_no_token(oidc_issuer: OidcIssuer) -> None:
    settings = _settings(oidc_issuer, publish_allowed_invokers="")
    assert scheduler_invoker(_request(f"Bearer {oidc_issuer.token()}"), settings) is None


def test_a_certs_url_that_is_not_http_names_the_variable(oidc_issuer: OidcIssuer) -> None:
    with pytest.raises(ConfigError, match="PUBLISH_OIDC_CERTS_URL: must be an http"):
        _settings(oidc_issuer, publish_oidc_certs_url="file:///etc/certs")


# --- site publish gate ---------------------------------------------------------------------------


def test_site_gate_holds_a_second_publish_for_the_rest_of_the_minute() -> None:
    now = [1000.0]
    gate = SitePublishGate(clock=lambda: now[0])
    assert gate.wait_seconds("site") == 0
    gate.record("site")
    now[0] += 20
    assert gate.wait_seconds("site") == pytest.approx(40)
    now[0] += 40
    assert gate.wait_seconds("site") == 0


class _SlowSitePublisher:
    """Stands in for the client: a site publish that takes a while, counted."""

    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self._failures = failures

    def publish_site(self, site_id: str, **_: object) -> dict[str, object]:
        self.calls += 1
        time.sleep(0.2)  # the other requests arrive while this one is in flight
        if self.calls <= self._failures:
            raise InternalServerError(503, None, "unavailable")
        return {}


def _site_settings() -> PublishSettings:
    return load_settings(
        PublishSettings,
        webflow_api_token=TOKEN,
        webflow_site_id="b" * 24,
        webflow_collection_id="c" * 24,
    )


def test_concurrent_site_publishes_of_one_instance_send_one() -> None:
    client, gate, settings = _SlowSitePublisher(), SitePublishGate(), _site_settings()
    arrived = threading.Barrier(4)
    reports: list[PublishReport] = []

    def request() -> None:
        report = PublishReport(dry_run=False)
        arrived.wait()
        publish_site(client, settings, report, gate)  # type: ignore[arg-type]
        reports.append(report)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert client.calls == 1
    assert sorted(bool(report.site and report.site["published"]) for report in reports) == [
        False,
        False,
        False,
        True,
    ]


def test_a_failed_site_publish_gives_its_turn_back() -> None:
    client, gate, settings = _SlowSitePublisher(failures=1), SitePublishGate(), _site_settings()

    first, second = PublishReport(dry_run=False), PublishReport(dry_run=False)
    publish_site(client, settings, first, gate)  # type: ignore[arg-type]
    publish_site(client, settings, second, gate)  # type: ignore[arg-type]

    assert client.calls == 2
    assert first.site == {"id": "b" * 24, "published": False}
    assert second.site == {"id": "b" * 24, "published": True}
