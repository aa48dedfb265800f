"""JSON logging in Cloud Logging's shape, with request context and secret redaction."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any, TextIO

from shared.webflow.secrets import subscribe

__all__ = [
    "JsonFormatter",
    "add_secret",
    "bind_context",
    "clear_secrets",
    "configure",
    "current_context",
    "get_logger",
    "redact",
    "span_from_header",
    "trace_context",
    "trace_from_header",
]

REDACTED = "[REDACTED]"
_ERROR_EVENT_TYPE = (
    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
)
_MIN_SECRET_LENGTH = 4

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
_span_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("span_id", default=None)

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None

_BEARER = re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9\-._~+/=]+")
_AUTH_HEADER = re.compile(
    r"(?i)(['\"]?(?:authorization|x-api-key)['\"]?\s*[:=]\s*['\"]?)(?![\s'\"]|Bearer\b)[^'\",}\r\n]+"
)

# LogRecord attributes that are not "extra" fields supplied by the caller.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def add_secret(value: str | None) -> None:
    """Register a string to be masked in every log line (ignores empty or very short values)."""
    global _secret_pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def clear_secrets() -> None:
    """Forget every registered secret (tests)."""
    global _secret_pattern
    with _secrets_lock:
        _secrets.clear()
        _secret_pattern = None


def redact(text: str) -> str:
    """Mask registered secrets, Bearer tokens and Authorization header values in ``text``."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    return _AUTH_HEADER.sub(rf"\1{REDACTED}", text)


def _redact_value(value: Any) -> Any:
    """Redact strings inside JSON-compatible structures."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(key): _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def trace_from_header(value: str | None, project_id: str | None) -> str | None:
    """Turn an X-Cloud-Trace-Context value 'TRACE_ID/SPAN;o=1' into Cloud Logging's trace name."""
    if not value:
        return None
    trace_id = value.split("/", 1)[0].split(";", 1)[0].strip()
    if not trace_id or not re.fullmatch(r"[0-9a-fA-F]{1,32}", trace_id):
        return None
    if project_id:
        return f"projects/{project_id}/traces/{trace_id}"
    return trace_id


def span_from_header(value: str | None) -> str | None:
    """The span of an X-Cloud-Trace-Context value, as the 16 hex digits Cloud Logging expects.

    The header carries the span id in decimal ('TRACE_ID/SPAN_ID;o=1'); a missing, zero or
    out-of-range span gives None.
    """
    if not value or "/" not in value:
        return None
    span = value.split("/", 1)[1].split(";", 1)[0].strip()
    if not span.isascii() or not span.isdigit() or len(span) > 20:
        return None
    number = int(span)
    return f"{number:016x}" if 0 < number < 2**64 else None


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}")


def google_project() -> str | None:
    """The Google Cloud project the code runs in, from the runtime's environment, if known."""
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT") or None


def trace_context(
    cloud_trace: str | None, traceparent: str | None, project_id: str | None
) -> tuple[str | None, str | None]:
    """Trace name and span id of a request: X-Cloud-Trace-Context, else W3C traceparent."""
    trace = trace_from_header(cloud_trace, project_id)
    if trace is not None:
        return trace, span_from_header(cloud_trace)
    match = _TRACEPARENT.fullmatch((traceparent or "").strip())
    if match is None or set(match["trace"]) == {"0"}:
        return None, None
    trace_id = match["trace"]
    span = match["span"] if set(match["span"]) != {"0"} else None
    return (f"projects/{project_id}/traces/{trace_id}" if project_id else trace_id), span


@contextlib.contextmanager
def bind_context(
    *,
    request_id: str | None = None,
    event_id: str | None = None,
    trace: str | None = None,
    span_id: str | None = None,
) -> Iterator[None]:
    """Attach request/event id and trace to every log line emitted inside the block."""
    tokens = []
    for var, value in (
        (_request_id, request_id),
        (_event_id, event_id),
        (_trace, trace),
        (_span_id, span_id),
    ):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str]:
    """The context fields currently bound (as they appear in a log line)."""
    fields: dict[str, str] = {}
    if (trace := _trace.get()) is not None:
        fields["logging.googleapis.com/trace"] = trace
    if (span := _span_id.get()) is not None:
        fields["logging.googleapis.com/spanId"] = span
    if (request_id := _request_id.get()) is not None:
        fields["requestId"] = request_id
    if (event_id := _event_id.get()) is not None:
        fields["eventId"] = event_id
    return fields


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object in Cloud Logging's structured shape."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single redacted JSON line."""
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, record.levelname),
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "logger": record.name,
        }
        entry.update(current_context())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
            if record.levelno >= logging.ERROR:
                # Makes Error Reporting group the entry even when the trace is unusual.
                entry["@type"] = _ERROR_EVENT_TYPE
        elif record.stack_info:
            entry["stack_trace"] = record.stack_info
        entry = _redact_value(entry)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to the current sys.stdout (so captured or replaced streams are honoured)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


_configured_lock = threading.Lock()
_ROOT_NAME = "webflow"


def _install(logger: logging.Logger) -> bool:
    """Give ``logger`` one JSON handler on stdout; False when it already has it."""
    if any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        return False
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return True


def configure(level: str | int | None = None) -> logging.Logger:
    """Install the JSON handler on the project's logger and Python's root logger (idempotent).

    The project's logger (``webflow``) gets ``level``; the root logger keeps its own level
    (WARNING unless someone changed it) and formats what libraries (urllib3, google-auth,
    werkzeug...) log, and Python warnings, as the same one-object-per-line JSON.
    """
    root = logging.getLogger(_ROOT_NAME)
    with _configured_lock:
        if _install(root):
            root.propagate = False
            if root.level == logging.NOTSET:
                root.setLevel(logging.INFO)
        if _install(logging.getLogger()):
            logging.captureWarnings(True)
            # werkzeug sets INFO on its logger only when it adds a plain-text handler of its own
            # (which it no longer does): keep a local server's request lines, now as JSON.
            werkzeug = logging.getLogger("werkzeug")
            if werkzeug.level == logging.NOTSET:
                werkzeug.setLevel(logging.INFO)
            # google-auth and google-api-core cut the "google" logger off from the root unless it
            # looks configured, which would send their warnings to Python's plain-text last resort.
            google = logging.getLogger("google")
            if google.level == logging.NOTSET:
                google.setLevel(logging.WARNING)
            google.propagate = True
    if level is not None:
        root.setLevel(level.upper() if isinstance(level, str) else level)
    return root


def get_logger(name: str) -> logging.Logger:
    """Return a logger that writes one JSON object per line to stdout."""
    configure()
    if name != _ROOT_NAME and not name.startswith(_ROOT_NAME + "."):
        name = f"{_ROOT_NAME}.{name}"
    return logging.getLogger(name)


# The client announces the secrets it holds (its token, a webhook's key): mask them too.
subscribe(add_secret)
