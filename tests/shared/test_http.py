"""Unit tests of shared/web/http.py: bodies, auth, CORS and the error mapping."""

from __future__ import annotations

import hmac
import io
import json
from typing import Any

import flask
import pytest
from pydantic import BaseModel, Field, SecretStr
from werkzeug.test import EnvironBuilder

from shared.core.config import ConfigError
from shared.core.log import clear_secrets, redact
from shared.core.problems import Problem
from shared.web.http import (
    MAX_TRUSTED_PROXIES,
    AppError,
    ClientRateLimiter,
    client_address,
    cors_headers,
    error_response,
    field_path,
    handle,
    http_function,
    json_response,
    parse_form,
    parse_json,
    preflight_response,
    read_body,
    read_json,
    require_api_key,
    to_app_error,
    wants_json,
    webflow_details,
)
from shared.webflow.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    WebflowTimeoutError,
)
from shared.webflow.models import WebflowId


def make_request(method: str = "POST", **kwargs: Any) -> flask.Request:
    """A flask Request built from a WSGI environ (no app needed)."""
    return flask.Request(EnvironBuilder(path="/", method=method, **kwargs).get_environ())


def raised(fn: Any, *args: Any, **kwargs: Any) -> AppError:
    """What the caller is answered when ``fn`` fails (a problem said as the web layer says it)."""
    with pytest.raises((AppError, Problem)) as info:
        fn(*args, **kwargs)
    return to_app_error(info.value)


class Entry(BaseModel):
    name: str = Field(min_length=1)


class Payload(BaseModel):
    items: list[Entry] = Field(max_length=2)


# --- bodies --------------------------------------------------------------------------------


def test_read_json_decodes_a_json_body() -> None:
    request = make_request(json={"a": [1, 2]})
    assert read_json(request, 1000) == {"a": [1, 2]}


def test_read_json_accepts_a_json_suffix_media_type() -> None:
    request = make_request(data=b'{"a": 1}', content_type="application/vnd.api+json")
    assert read_json(request, 1000) == {"a": 1}


def test_malformed_json_is_400_with_its_position() -> None:
    error = raised(read_json, make_request(data=b'{"a": ', content_type="application/json"), 1000)
    assert (error.status, error.code) == (400, "invalid_json")
    assert "line 1" in error.message


def test_non_utf8_json_is_400() -> None:
    error = raised(
        read_json, make_request(data=b"\xff\xfe\x00", content_type="application/json"), 1000
    )
    assert (error.status, error.code) == (400, "invalid_json")


def test_absurdly_nested_json_is_400_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    error = raised(read_json, make_request(data=body, content_type="application/json"), 1_000_000)
    assert (error.status, error.code) == (400, "invalid_json")


def test_wrong_content_type_is_415() -> None:
    error = raised(read_json, make_request(data=b"a=1", content_type="text/plain"), 1000)
    assert (error.status, error.code) == (415, "unsupported_media_type")
    assert "text/plain" in error.message
    assert [detail["field"] for detail in error.details] == ["Content-Type"]


def test_missing_content_type_is_415() -> None:
    error = raised(read_json, make_request(data=b"{}"), 1000)
    assert error.status == 415


def test_body_over_the_declared_length_limit_is_413() -> None:
    request = make_request(data=b"x" * 101, content_type="application/json")
    assert raised(read_body, request, 100).status == 413


def test_chunked_body_over_the_limit_is_413() -> None:
    environ = EnvironBuilder(method="POST", input_stream=io.BytesIO(b"y" * 500)).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True
    request = flask.Request(environ)
    assert request.content_length is None
    assert raised(read_body, request, 100).status == 413


def test_body_exactly_at_the_limit_is_read_and_cached() -> None:
    request = make_request(data=b"z" * 100, content_type="application/json")
    assert read_body(request, 100) == b"z" * 100
    assert read_body(request, 100) == b"z" * 100


def test_parse_json_reports_field_paths() -> None:
    request = make_request(json={"items": [{"name": "ok"}, {"name": ""}]})
    error = raised(parse_json, request, Payload, 1000)
    assert (error.status, error.code) == (400, "invalid_request")
    assert [d["field"] for d in error.details] == ["items[1].name"]


def test_parse_json_reports_too_many_items() -> None:
    request = make_request(json={"items": [{"name": "a"}] * 3})
    error = raised(parse_json, request, Payload, 1000)
    assert error.details[0]["field"] == "items"
    assert "at most 2" in error.details[0]["message"]


def test_parse_json_does_not_echo_input_values() -> None:
    request = make_request(json={"items": [{"name": 12345678}]})
    error = raised(parse_json, request, Payload, 1000)
    assert "12345678" not in json.dumps(error.to_body())


def test_a_body_that_is_not_an_object_is_told_so_without_naming_the_model() -> None:
    error = raised(parse_json, make_request(json=[1]), Payload, 1000)
    assert error.details == [{"field": "body", "message": "must be a JSON object"}]


def test_a_malformed_webflow_id_is_told_what_an_id_looks_like() -> None:
    class Target(BaseModel):
        collection_id: WebflowId

    request = make_request(json={"collection_id": "posts"})
    error = raised(parse_json, request, Target, 1000)
    assert error.details == [
        {
            "field": "collection_id",
            "message": "must be a Webflow id (24 lowercase hexadecimal digits)",
        }
    ]


def test_parse_form_reads_urlencoded_fields() -> None:
    request = make_request(data={"name": "Ada", "tag": ["a", "b"]})
    form = parse_form(request, 1000)
    assert form.fields["name"] == "Ada"
    assert form.fields.getlist("tag") == ["a", "b"]


def test_parse_form_reads_multipart_files() -> None:
    request = make_request(
        data={"name": "Ada", "photo": (io.BytesIO(b"PNGDATA"), "me.png", "image/png")}
    )
    form = parse_form(request, 10_000)
    photo = form.files["photo"]
    assert (photo.filename, photo.mimetype, photo.read()) == ("me.png", "image/png", b"PNGDATA")


def test_parse_form_over_the_limit_is_413() -> None:
    request = make_request(data={"photo": (io.BytesIO(b"x" * 5000), "big.bin")})
    assert raised(parse_form, request, 1000).status == 413


def test_parse_form_rejects_json_with_415() -> None:
    assert raised(parse_form, make_request(json={}), 1000).status == 415


def test_multipart_without_boundary_is_400() -> None:
    request = make_request(data=b"--x\r\n", content_type="multipart/form-data")
    error = raised(parse_form, request, 1000)
    assert (error.status, error.code) == (400, "invalid_form")


def test_field_path_renders_indexes_in_brackets() -> None:
    assert field_path(["items", 3, "fieldData", "email"]) == "items[3].fieldData.email"


def test_wants_json_follows_the_accept_header() -> None:
    assert wants_json(make_request(headers={"Accept": "application/json"}))
    assert not wants_json(
        make_request(headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    )
    assert not wants_json(make_request())


# --- API keys ------------------------------------------------------------------------------


KEYS = [SecretStr("first-key-123"), SecretStr("second-key-456")]


def test_missing_api_key_is_401_with_a_challenge() -> None:
    error = raised(require_api_key, make_request(), KEYS)
    assert (error.status, error.code) == (401, "unauthorized")
    assert error.headers["WWW-Authenticate"].startswith("Bearer ")
    assert [detail["field"] for detail in error.details] == ["Authorization"]


def test_wrong_api_key_is_401_invalid_token() -> None:
    request = make_request(headers={"Authorization": "Bearer nope"})
    error = raised(require_api_key, request, KEYS)
    assert error.code == "invalid_api_key"
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]
    assert [detail["field"] for detail in error.details] == ["Authorization"]


def test_any_configured_api_key_is_accepted() -> None:
    require_api_key(make_request(headers={"Authorization": "Bearer second-key-456"}), KEYS)


def test_basic_auth_is_not_an_api_key() -> None:
    request = make_request(headers={"Authorization": "Basic second-key-456"})
    assert raised(require_api_key, request, KEYS).status == 401


def test_no_configured_keys_rejects_everything() -> None:
    request = make_request(headers={"Authorization": "Bearer anything"})
    assert raised(require_api_key, request, []).status == 401


def test_api_keys_are_compared_as_equal_length_digests_against_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[int, int]] = []
    real_compare = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)
    keys = [SecretStr("first-key-0123456789"), SecretStr("a-much-longer-second-key-0123456789")]

    require_api_key(make_request(headers={"Authorization": "Bearer first-key-0123456789"}), keys)

    # Digests on both sides: neither the keys' lengths nor the caller's shows in the timing,
    # and the match on the first key does not stop the comparison of the second.
    assert compared == [(32, 32), (32, 32)]


def test_checked_api_keys_are_redacted_from_logs() -> None:
    clear_secrets()  # earlier checks against KEYS must not have registered them already
    try:
        require_api_key(make_request(headers={"Authorization": "Bearer first-key-123"}), KEYS)
        assert "second-key-456" not in redact("key=second-key-456")
    finally:
        clear_secrets()


# --- CORS ----------------------------------------------------------------------------------


ORIGINS = ["https://example.com"]


def test_allowed_origin_is_echoed() -> None:
    headers = cors_headers(make_request(headers={"Origin": "https://example.com"}), ORIGINS)
    assert headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert headers["Vary"] == "Origin"


def test_unknown_origin_gets_no_allow_origin() -> None:
    headers = cors_headers(make_request(headers={"Origin": "https://evil.test"}), ORIGINS)
    assert "Access-Control-Allow-Origin" not in headers


def test_null_origin_is_not_granted_by_wildcard() -> None:
    headers = cors_headers(make_request(headers={"Origin": "null"}), ["*"])
    assert "Access-Control-Allow-Origin" not in headers


def test_preflight_answers_204_with_methods_and_headers() -> None:
    request = make_request(
        "OPTIONS",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"},
    )
    response = preflight_response(request, ORIGINS, methods=["POST"])
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"


def test_preflight_from_unknown_origin_grants_nothing() -> None:
    request = make_request("OPTIONS", headers={"Origin": "https://evil.test"})
    response = preflight_response(request, ORIGINS)
    assert response.status_code == 204
    assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


# --- error mapping -------------------------------------------------------------------------


def test_webflow_validation_error_is_422_with_translated_details() -> None:
    exc = BadRequestError(
        400,
        "validation_error",
        "Validation Error",
        [{"param": "fieldData.email", "description": "Invalid email"}],
    )
    error = to_app_error(exc)
    assert error.status == 422
    assert error.details == [{"field": "email", "message": "Invalid email"}]


def test_webflow_details_can_be_renamed_to_caller_fields() -> None:
    renamed = {"e-mail": "email"}
    details = webflow_details(
        [{"param": "fieldData.e-mail", "description": "bad"}], lambda name: renamed.get(name, name)
    )
    assert details == [{"field": "email", "message": "bad"}]


def test_webflow_details_lose_the_item_prefix() -> None:
    details = webflow_details([{"param": "items[3].fieldData.email", "description": "bad"}])
    assert details == [{"field": "email", "message": "bad"}]


def test_webflow_bad_request_is_400() -> None:
    assert to_app_error(BadRequestError(400, "bad_request", "Bad")).status == 400


def test_webflow_not_found_is_422() -> None:
    assert (
        to_app_error(NotFoundError(404, "collection_not_found", "No such collection")).status == 422
    )


def test_webflow_refusing_our_token_is_502() -> None:
    error = to_app_error(AuthenticationError(401, "not_authorized", "Bad token"))
    assert (error.status, error.code) == (502, "upstream_not_authorized")


def test_webflow_rate_limit_is_503_with_its_retry_after() -> None:
    error = to_app_error(RateLimitError(429, "too_many_requests", "Slow down", retry_after=12.2))
    assert (error.status, error.headers["Retry-After"]) == (503, "13")


def test_webflow_outage_is_503_with_a_default_retry_after() -> None:
    error = to_app_error(InternalServerError(502, None, "Bad gateway"))
    assert (error.status, error.headers["Retry-After"]) == (503, "30")


def test_webflow_timeout_is_503() -> None:
    error = to_app_error(WebflowTimeoutError())
    assert error.status == 503
    assert "Retry-After" in error.headers


def test_configuration_error_is_500_without_the_variable_value() -> None:
    error = to_app_error(ConfigError("WEBFLOW_API_TOKEN is required"))
    assert (error.status, error.code) == (500, "configuration_error")


def test_unexpected_error_is_500_json_without_a_trace(capsys: pytest.CaptureFixture[str]) -> None:
    response = error_response(RuntimeError("secret internals"))
    body = response.get_json()
    assert response.status_code == 500
    assert body == {"code": "internal_error", "message": "Internal error", "details": []}
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[-1]["severity"] == "ERROR"
    assert "RuntimeError" in logged[-1]["exception"]


# --- handle --------------------------------------------------------------------------------


def ok(request: flask.Request) -> flask.Response:
    return json_response({"ok": True}, 201)


def test_handle_runs_the_function() -> None:
    response = handle(make_request(), ok)
    assert (response.status_code, response.get_json()) == (201, {"ok": True})
    assert response.headers["X-Request-Id"]


def test_handle_answers_405_with_allow() -> None:
    response = handle(make_request("GET"), ok, methods=["POST"], allowed_origins=ORIGINS)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert response.get_json()["code"] == "method_not_allowed"


def test_handle_answers_preflight_without_calling_the_function() -> None:
    def boom(request: flask.Request) -> flask.Response:
        raise AssertionError("must not run")

    request = make_request("OPTIONS", headers={"Origin": "https://example.com"})
    response = handle(request, boom, allowed_origins=lambda: ORIGINS)
    assert response.status_code == 204


def test_handle_adds_cors_headers_to_errors() -> None:
    def fail(request: flask.Request) -> flask.Response:
        raise AppError(400, "bad", "Bad")

    request = make_request(headers={"Origin": "https://example.com"})
    response = handle(request, fail, allowed_origins=ORIGINS)
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"


def test_handle_lists_accept_in_vary_when_the_answer_depended_on_it() -> None:
    def negotiated(request: flask.Request) -> flask.Response:
        return json_response({"json": wants_json(request)})

    request = make_request(headers={"Origin": "https://example.com", "Accept": "text/html"})
    response = handle(request, negotiated, allowed_origins=ORIGINS)
    assert response.headers["Vary"] == "Origin, Accept"


def test_handle_leaves_accept_out_of_vary_when_the_answer_ignores_it() -> None:
    response = handle(make_request(headers={"Accept": "text/html"}), ok)
    assert "Vary" not in response.headers


def test_handle_maps_a_failing_origins_source_to_500() -> None:
    def missing() -> list[str]:
        raise ConfigError("ALLOWED_ORIGINS: must be a list")

    response = handle(make_request(), ok, allowed_origins=missing)
    assert response.get_json()["code"] == "configuration_error"


def test_http_function_decorator_wraps_handle() -> None:
    wrapped = http_function(methods=["PUT"])(ok)
    assert wrapped(make_request("PUT")).status_code == 201
    assert wrapped(make_request("POST")).status_code == 405


# --- per-client rate limit -----------------------------------------------------------------


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_the_limit_then_answers_429_with_retry_after() -> None:
    clock = Clock()
    limiter = ClientRateLimiter(2, clock=clock)
    limiter.check("a")
    clock.now += 10
    limiter.check("a")
    error = raised(limiter.check, "a")
    assert (error.status, error.headers["Retry-After"]) == (429, "50")


def test_rate_limiter_counts_clients_apart_and_forgets_after_a_minute() -> None:
    clock = Clock()
    limiter = ClientRateLimiter(1, clock=clock)
    limiter.check("a")
    limiter.check("b")
    clock.now += 60
    limiter.check("a")


def test_rate_limiter_zero_disables_it() -> None:
    limiter = ClientRateLimiter(0)
    for _ in range(100):
        limiter.check("a")


def test_client_address_trusts_only_the_hop_the_front_end_added() -> None:
    request = make_request(headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    assert client_address(request) == "203.0.113.9"


def forwarded(*values: str, peer: str = "10.0.0.1") -> flask.Request:
    """A request carrying these X-Forwarded-For header lines, from socket peer ``peer``."""
    return make_request(
        headers=[("X-Forwarded-For", value) for value in values],
        environ_base={"REMOTE_ADDR": peer},
    )


@pytest.mark.parametrize(
    ("header", "trusted", "expected"),
    [
        ("203.0.113.9", 0, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9, 34.120.0.9", 1, "203.0.113.9"),
        ("203.0.113.9, 34.120.0.9", 1, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9, 35.191.0.1, 34.120.0.9", 2, "203.0.113.9"),
        ("  203.0.113.9 ,34.120.0.9  ", 1, "203.0.113.9"),
        ("2001:db8::1, 34.120.0.9", 1, "2001:db8::1"),
        ("[2001:db8::1]:443, 34.120.0.9", 1, "[2001:db8::1]:443"),
        ('for="203.0.113.9";proto=https, 34.120.0.9', 1, 'for="203.0.113.9";proto=https'),
        ("unknown, 34.120.0.9", 1, "unknown"),
        # Blank entries are the client's (a proxy never appends one) and take no position.
        (",, 203.0.113.9,, 34.120.0.9,", 1, "203.0.113.9"),
    ],
)
def test_client_address_skips_the_trusted_proxies_from_the_right(
    header: str, trusted: int, expected: str
) -> None:
    assert client_address(forwarded(header), trusted) == expected


def test_client_address_reads_every_header_line_in_order() -> None:
    request = forwarded("6.6.6.6", "203.0.113.9, 34.120.0.9")
    assert client_address(request, 1) == "203.0.113.9"
    assert client_address(request, 2) == "6.6.6.6"


@pytest.mark.parametrize(
    ("header", "trusted"),
    [("", 0), (" , ,", 0), ("34.120.0.9", 1), ("6.6.6.6, 34.120.0.9", 2), ("", 1)],
)
def test_client_address_without_enough_entries_is_the_socket_peer(
    header: str, trusted: int
) -> None:
    # Too few entries: the request did not come through the proxies as configured, so any entry may
    # be the client's own; the peer is the one address it cannot choose.
    assert client_address(forwarded(header), trusted) == "10.0.0.1"
    assert client_address(make_request(environ_base={"REMOTE_ADDR": "10.0.0.2"}), trusted) == (
        "10.0.0.2"
    )


def test_client_address_without_header_or_peer_is_one_shared_key() -> None:
    request = make_request(environ_base={"REMOTE_ADDR": ""})
    assert client_address(request, 1) == "unknown"


def test_client_address_caps_the_key_length() -> None:
    junk = "x" * 5000
    assert client_address(forwarded(f"{junk}, 34.120.0.9"), 1) == "x" * 100


@pytest.mark.parametrize("trusted", [-1, MAX_TRUSTED_PROXIES + 1])
def test_client_address_refuses_a_proxy_count_out_of_range(trusted: int) -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        client_address(forwarded("203.0.113.9"), trusted)


def test_an_ipv6_client_is_limited_by_its_slash_64_whatever_address_it_picks() -> None:
    limiter = ClientRateLimiter(1, clock=Clock())
    limiter.check("2001:db8:1:2::1")
    error = raised(limiter.check, "2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert error.status == 429
    limiter.check("2001:db8:1:3::1")  # another /64: another subscriber


def test_an_ipv4_mapped_address_is_its_ipv4_client() -> None:
    limiter = ClientRateLimiter(1, clock=Clock())
    limiter.check("192.0.2.7")
    assert raised(limiter.check, "::ffff:192.0.2.7").status == 429
    limiter.check("opaque-entry")  # not an address: keyed as it came
