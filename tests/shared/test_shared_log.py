"""Unit tests of shared.core.log."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shared.core.log import (
    add_secret,
    bind_context,
    clear_secrets,
    configure,
    get_logger,
    redact,
    span_from_header,
    trace_context,
    trace_from_header,
)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
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


# --- third-party loggers -------------------------------------------------------------------


def test_a_library_s_warning_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("tests.log")

    logging.getLogger("urllib3.connectionpool").warning("Retrying (%s) after %s", 2, "reset")

    (entry,) = _lines(capsys)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "Retrying (2) after reset"
    assert entry["logger"] == "urllib3.connectionpool"


def test_a_library_s_lines_carry_the_request_context_and_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    get_logger("tests.log")

    with bind_context(request_id="req-7"):
        logging.getLogger("google.auth.transport").error("refused Bearer abc.def.ghi")

    (entry,) = _lines(capsys)
    assert (entry["severity"], entry["requestId"]) == ("ERROR", "req-7")
    assert "abc.def.ghi" not in entry["message"]


def test_everything_an_instance_prints_is_json_on_stdout() -> None:
    code = (
        "import logging, warnings; from shared.core.log import get_logger; "
        "get_logger('app').info('started'); "
        "logging.getLogger('urllib3.connectionpool').warning('Retrying'); "
        "warnings.warn('old call', UserWarning, stacklevel=1)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(entry["severity"], entry["logger"]) for entry in entries] == [
        ("INFO", "webflow.app"),
        ("WARNING", "urllib3.connectionpool"),
        ("WARNING", "py.warnings"),
    ]
    assert "old call" in entries[2]["message"]
    assert done.stderr == ""


def test_the_root_handler_is_installed_once(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    configure("DEBUG")
    get_logger("again")

    logging.getLogger("werkzeug").warning("one line")

    assert len(_lines(capsys)) == 1
    configure("INFO")


def test_the_project_s_own_lines_are_not_printed_twice(capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("tests.log").warning("once")
    assert len(_lines(capsys)) == 1


@pytest.mark.parametrize("google_auth_first", [True, False])
def test_google_libraries_lines_are_json_too(google_auth_first: bool) -> None:
    # google-auth turns off the "google" logger's propagation when it looks unconfigured, which
    # would leave its warnings to Python's plain-text last resort on stderr.
    steps = [
        "from google.auth import _helpers",
        "_helpers.is_logging_enabled(logging.getLogger('google.auth.transport'))",
        "get_logger('app')",
    ]
    if not google_auth_first:
        steps = [steps[0], steps[2], steps[1]]
    code = "; ".join(
        [
            "import logging",
            "from shared.core.log import get_logger",
            *steps,
            "logging.getLogger('google.auth.transport').warning('token refresh failed')",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    (entry,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (entry["severity"], entry["logger"]) == ("WARNING", "google.auth.transport")
    assert done.stderr == ""
