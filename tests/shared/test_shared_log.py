"""Unit tests of shared.log."""

from __future__ import annotations

import json
import logging

import pytest

from shared.log import (
    add_secret,
    bind_context,
    clear_secrets,
    get_logger,
    redact,
    span_from_header,
    trace_context,
    trace_from_header,
)


@pytest.fixture(autouse=True)
def _forget_secrets() -> None:
    clear_secrets()
    yield
    clear_secrets()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_one_json_object_per_line_in_cloud_logging_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = get_logger("tests.log")

    logger.warning("hello %s", "world", extra={"itemCount": 3})

    (entry,) = _lines(capsys)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello world"
    assert entry["itemCount"] == 3
    assert entry["time"].endswith("Z")
    assert entry["logger"].endswith("tests.log")


def test_bound_context_appears_and_is_removed(capsys: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("tests.log")

    with bind_context(request_id="r-1", trace="projects/p/traces/abc"):
        logger.info("inside")
    logger.info("outside")

    inside, outside = _lines(capsys)
    assert inside["requestId"] == "r-1"
    assert inside["logging.googleapis.com/trace"] == "projects/p/traces/abc"
    assert "requestId" not in outside
    assert "logging.googleapis.com/trace" not in outside


def test_event_id_context(capsys: pytest.CaptureFixture[str]) -> None:
    with bind_context(event_id="e-9"):
        get_logger("tests.log").info("event")

    assert _lines(capsys)[0]["eventId"] == "e-9"


def test_registered_secret_redacted_in_message_extra_and_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "s3cr3t-token-value"
    add_secret(secret)
    logger = get_logger("tests.log")

    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("calling with %s", secret, extra={"headers": {"x": secret}})

    out = capsys.readouterr().out
    assert secret not in out
    entry = json.loads(out)
    assert entry["headers"] == {"x": "[REDACTED]"}
    assert "[REDACTED]" in entry["message"]
    assert entry["severity"] == "ERROR"
    assert "RuntimeError: failed with [REDACTED]" in entry["exception"]
    assert entry["@type"].endswith("ReportedErrorEvent")


def test_bearer_tokens_redacted_without_registration() -> None:
    assert redact("Authorization: Bearer abc.DEF-123") == "Authorization: Bearer [REDACTED]"
    assert redact("{'authorization': 'Basic Zm9vOmJhcg=='}") == "{'authorization': '[REDACTED]'}"


def test_short_secrets_are_ignored() -> None:
    add_secret("ab")

    assert redact("abc") == "abc"


@pytest.mark.parametrize(
    ("header", "project", "expected"),
    [
        (
            "105445aa7843bc8bf206b12000100000/1;o=1",
            "proj",
            "projects/proj/traces/105445aa7843bc8bf206b12000100000",
        ),
        ("abc123", "proj", "projects/proj/traces/abc123"),
        ("abc123/5", None, "abc123"),
        ("", "proj", None),
        (None, "proj", None),
        ("not-hex!/1", "proj", None),
    ],
)
def test_trace_from_header(header: str | None, project: str | None, expected: str | None) -> None:
    assert trace_from_header(header, project) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("105445aa7843bc8bf206b12000100000/1;o=1", "0000000000000001"),
        ("105445aa7843bc8bf206b12000100000/18446744073709551615", "ffffffffffffffff"),
        ("105445aa7843bc8bf206b12000100000/18446744073709551616", None),
        ("105445aa7843bc8bf206b12000100000/0;o=1", None),
        ("105445aa7843bc8bf206b12000100000/abc", None),
        ("105445aa7843bc8bf206b12000100000", None),
        (None, None),
    ],
)
def test_span_from_header_is_cloud_loggings_hex_span(
    header: str | None, expected: str | None
) -> None:
    assert span_from_header(header) == expected


def test_traceparent_is_used_when_there_is_no_cloud_trace_header() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_context(None, traceparent, "p") == (
        "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert trace_context("abc/2", traceparent, None) == ("abc", "0000000000000002")
    assert trace_context(None, "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "p") == (None, None)
    assert trace_context(None, "garbage", "p") == (None, None)


def test_level_respected(capsys: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("tests.quiet")
    logger.setLevel(logging.WARNING)

    logger.info("dropped")
    logger.error("kept")

    assert [entry["message"] for entry in _lines(capsys)] == ["kept"]
