"""Request parsing, API-key auth, CORS and the one error-to-response mapping of HTTP functions."""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import io
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import flask
from pydantic import BaseModel, SecretStr, ValidationError
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from shared.config import ConfigError
from shared.errors import WebflowAPIError, WebflowConnectionError
from shared.log import add_secret, bind_context, get_logger, google_project, trace_context
from shared.models import WEBFLOW_ID_PATTERN

__all__ = [
    "FORM_TYPES",
    "JSON_TYPES",
    "MAX_TRUSTED_PROXIES",
    "AppError",
    "ClientRateLimiter",
    "FormData",
    "client_address",
    "cors_headers",
    "error_response",
    "field_path",
    "handle",
    "http_function",
    "json_response",
    "names_html",
    "origin_allowed",
    "parse_form",
    "parse_json",
    "preflight_response",
    "read_body",
    "read_json",
    "redirect_response",
    "report_error",
    "require_allowed_origin",
    "require_api_key",
    "require_content_type",
    "to_app_error",
    "validation_details",
    "vary_on",
    "wants_json",
    "webflow_details",
]

_log = get_logger("http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[flask.Request], flask.Response]
OriginsSource = Sequence[str] | Callable[[], Sequence[str]]

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_RETRY_AFTER_SECONDS = 3600
DEFAULT_CORS_HEADERS = ("Content-Type", "Accept", "Authorization", "X-Requested-With")
CORS_MAX_AGE_SECONDS = 600
_BODY_CACHE_KEY = "webflow_functions.body"
_VARY_KEY = "webflow_functions.vary"
# "items[3].fieldData.email" -> "email": the item is known from the result's index.
_WEBFLOW_PARAM_PREFIX = re.compile(r"^(?:items\[\d+\]\.)?(?:fieldData[./])?")


class AppError(Exception):
    """An error with the HTTP status, code and message the caller should see."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        """The JSON body: {"code", "message", "details": [{"field", "message"}]}."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"AppError({self.status!r}, {self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class FormData:
    """A parsed form body: text fields and uploaded files, both multi-valued."""

    fields: MultiDict[str, str]
    files: MultiDict[str, FileStorage]


# --- responses -------------------------------------------------------------------------------


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> flask.Response:
    """Serialise ``body`` as a JSON response."""
    return flask.Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def _empty(status: int, headers: Mapping[str, str]) -> flask.Response:
    response = flask.Response(status=status, headers=dict(headers))
    del response.headers["Content-Type"]  # no body, so no media type
    return response


def redirect_response(location: str, status: int = 303) -> flask.Response:
    """A redirect (303 See Other by default, so the browser follows with a GET)."""
    return _empty(status, {"Location": location})


def wants_json(request: flask.Request) -> bool:
    """True when the caller's Accept header prefers JSON over HTML.

    The answer then depends on Accept, so :func:`handle` adds it to the response's Vary.
    """
    vary_on(request, "Accept")
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > 0


def names_html(request: flask.Request) -> bool:
    """True when Accept lists text/html itself (a browser navigating), not only through */*."""
    vary_on(request, "Accept")
    return any(
        value.lower() == "text/html" and quality > 0 for value, quality in request.accept_mimetypes
    )


def vary_on(request: flask.Request, *headers: str) -> None:
    """Record request headers the answer depends on; :func:`handle` lists them in Vary."""
    request.environ.setdefault(_VARY_KEY, []).extend(headers)


# --- bodies ----------------------------------------------------------------------------------


def require_content_type(request: flask.Request, allowed: Sequence[str]) -> str:
    """Return the request's media type, or raise 415 unless it is one of ``allowed``."""
    mimetype = request.mimetype
    if mimetype in allowed or (
        "application/json" in allowed
        and mimetype.startswith("application/")
        and mimetype.endswith("+json")
    ):
        return mimetype
    shown = mimetype or "none"
    raise AppError(
        415,
        "unsupported_media_type",
        f"Content-Type {shown} is not accepted; use {' or '.join(allowed)}",
        [{"field": "Content-Type", "message": f"must be {' or '.join(allowed)}"}],
        headers={"Accept-Post": ", ".join(allowed)},
    )


def _too_large(max_bytes: int) -> AppError:
    return AppError(413, "payload_too_large", f"Request body is larger than {max_bytes} bytes")


def read_body(request: flask.Request, max_bytes: int) -> bytes:
    """Read the raw body (at most ``max_bytes``, else 413), once per request."""
    cached = request.environ.get(_BODY_CACHE_KEY)
    if isinstance(cached, bytes):
        return cached
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    # Chunked bodies carry no Content-Length: read one byte past the limit to detect overflow.
    stream = request.stream
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(65536, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
    body = b"".join(chunks)
    request.environ[_BODY_CACHE_KEY] = body
    return body


def read_json(request: flask.Request, max_bytes: int) -> Any:
    """Check the content type, read the body within the limit, decode JSON (400 if malformed)."""
    require_content_type(request, JSON_TYPES)
    body = read_body(request, max_bytes)
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise AppError(
            400,
            "invalid_json",
            f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    except UnicodeDecodeError:
        raise AppError(400, "invalid_json", "Request body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise AppError(400, "invalid_json", "Request body is nested too deeply") from None
    except ValueError:  # an integer literal beyond Python's digit limit (4,300 digits)
        raise AppError(
            400, "invalid_json", "Request body holds a number with too many digits"
        ) from None


def parse_json(request: flask.Request, model: type[M], max_bytes: int) -> M:
    """Read a JSON body and validate it into ``model`` (400 with field paths when invalid)."""
    data = read_json(request, max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AppError(
            400,
            "invalid_request",
            "Request body does not match the expected shape",
            validation_details(exc),
        ) from None


def parse_form(
    request: flask.Request,
    max_bytes: int,
    *,
    max_text_bytes: int | None = None,
    max_fields: int | None = None,
) -> FormData:
    """Parse an urlencoded or multipart body within ``max_bytes`` (413), else 415/400.

    ``max_text_bytes`` bounds the form's text (a whole urlencoded body; the text parts of a
    multipart one, files aside) and ``max_fields`` the number of fields and files (413 past
    either), before the parser builds anything: a body of a million names costs nothing.
    """
    mimetype = require_content_type(request, FORM_TYPES)
    body = read_body(request, max_bytes)
    if mimetype == "application/x-www-form-urlencoded":
        _check_urlencoded(body, max_text_bytes, max_fields)
    parser = FormDataParser(
        max_form_memory_size=max_text_bytes or max_bytes,
        max_content_length=max_bytes,
        max_form_parts=max_fields + 1 if max_fields else None,  # werkzeug counts the closing part
        silent=False,
    )
    try:
        _, fields, files = parser.parse(
            io.BytesIO(body), mimetype, len(body), request.mimetype_params
        )
    except RequestEntityTooLarge:
        raise _form_too_large(max_bytes, max_text_bytes, max_fields) from None
    except (ValueError, HTTPException) as exc:
        raise AppError(400, "invalid_form", f"Form body could not be parsed: {exc}") from None
    if max_fields is not None and len(fields) + len(files) > max_fields:
        raise _form_too_large(max_bytes, max_text_bytes, max_fields)
    if max_text_bytes is not None:
        text = sum(len(name) + len(value) for name, value in fields.items(multi=True))
        if text > max_text_bytes:
            raise _form_too_large(max_bytes, max_text_bytes, max_fields)
    return FormData(fields=fields, files=files)


def _check_urlencoded(body: bytes, max_text_bytes: int | None, max_fields: int | None) -> None:
    if max_text_bytes is not None and len(body) > max_text_bytes:
        raise AppError(413, "payload_too_large", f"Form text is larger than {max_text_bytes} bytes")
    # Counted on the bytes only when the separators alone could exceed the limit.
    if (
        max_fields is not None
        and body.count(b"&") >= max_fields
        and sum(1 for part in body.split(b"&") if part) > max_fields
    ):
        raise AppError(413, "too_many_fields", f"A form may have at most {max_fields} fields")


def _form_too_large(max_bytes: int, max_text_bytes: int | None, max_fields: int | None) -> AppError:
    limits = [f"{max_bytes} bytes in all"]
    if max_text_bytes is not None:
        limits.append(f"{max_text_bytes} bytes of text")
    if max_fields is not None:
        limits.append(f"{max_fields} fields")
    return AppError(413, "payload_too_large", f"Form is larger than {', '.join(limits)}")


# --- validation details ----------------------------------------------------------------------


def field_path(location: Iterable[str | int]) -> str:
    """Render a location as a path: ("items", 0, "fieldData") -> "items[0].fieldData"."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _message(error: Mapping[str, Any]) -> str:
    """Pydantic's message, put in the caller's terms where it would name our internals."""
    kind = error.get("type")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"  # not "... or instance of CreateItemsRequest"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == (
        WEBFLOW_ID_PATTERN
    ):
        return "must be a Webflow id (24 lowercase hexadecimal digits)"
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def validation_details(
    exc: ValidationError, prefix: Sequence[str | int] = ()
) -> list[dict[str, str]]:
    """One {"field", "message"} per pydantic error; input values are never echoed."""
    details = []
    for error in exc.errors(include_input=False, include_url=False):
        message = _message(error)
        details.append(
            {"field": field_path([*prefix, *error.get("loc", ())]) or "body", "message": message}
        )
    return details


def webflow_details(
    details: Iterable[Any], rename: Callable[[str], str] | None = None
) -> list[dict[str, str]]:
    """Translate Webflow's error details ({param, description}) into {"field", "message"}."""
    translated = []
    for detail in details:
        if not isinstance(detail, Mapping):
            translated.append({"field": "", "message": str(detail)})
            continue
        param = str(detail.get("param") or detail.get("field") or "")
        param = _WEBFLOW_PARAM_PREFIX.sub("", param)
        message = str(
            detail.get("description") or detail.get("message") or detail.get("msg") or "is invalid"
        )
        translated.append(
            {"field": rename(param) if rename and param else param, "message": message}
        )
    return translated


# --- auth and CORS ---------------------------------------------------------------------------


def require_api_key(
    request: flask.Request, keys: Sequence[SecretStr | str], *, realm: str = "webflow-functions"
) -> None:
    """Accept ``Authorization: Bearer <key>`` matching one of ``keys`` (constant time), else 401."""
    challenge = f'Bearer realm="{realm}"'
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise AppError(
            401,
            "unauthorized",
            "An API key is required",
            [{"field": "Authorization", "message": "must be Bearer <API key>"}],
            headers={"WWW-Authenticate": challenge},
        )
    # Digests of equal length on both sides: compare_digest's time then reveals neither the
    # keys' lengths nor how much of one matched. No early exit: every key is compared, so timing
    # tells nothing about which one matched either.
    candidate = hashlib.sha256(presented.encode()).digest()
    matched = False
    for key in keys:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        add_secret(secret)
        matched |= hmac.compare_digest(candidate, hashlib.sha256(secret.encode()).digest())
    if not matched:
        raise AppError(
            401,
            "invalid_api_key",
            "The API key is not valid",
            [{"field": "Authorization", "message": "is not one of the function's API keys"}],
            headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
        )


def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed_origins: Sequence[str]) -> bool:
    """True when ``origin`` is listed (or "*" is)."""
    if not origin or origin == "null":
        # Opaque origins (sandboxed frames, file://) are never granted, not even by "*".
        return False
    normalised = _normalise_origin(origin)
    return any(entry == "*" or _normalise_origin(entry) == normalised for entry in allowed_origins)


def require_allowed_origin(request: flask.Request, allowed_origins: Sequence[str]) -> None:
    """Refuse (403) a browser request from an origin not listed; requests without one pass.

    CORS only keeps another site from reading the answer; a cross-site form post is still
    delivered, so the write itself is refused here.
    """
    origin = request.headers.get("Origin", "").strip()
    if origin and not origin_allowed(origin, allowed_origins):
        raise AppError(
            403,
            "origin_not_allowed",
            "Posts from this origin are not accepted",
            [{"field": "Origin", "message": "is not one of ALLOWED_ORIGINS"}],
        )


def cors_headers(request: flask.Request, allowed_origins: Sequence[str]) -> dict[str, str]:
    """CORS headers for an actual request: the origin is echoed only when it is allowed."""
    headers = {"Vary": "Origin"}
    origin = request.headers.get("Origin")
    if origin is not None and origin_allowed(origin, allowed_origins):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_response(
    request: flask.Request,
    allowed_origins: Sequence[str],
    *,
    methods: Sequence[str] = ("POST",),
    allow_headers: Sequence[str] = DEFAULT_CORS_HEADERS,
) -> flask.Response:
    """Answer an OPTIONS preflight with 204; unknown origins get no Access-Control-* grant."""
    headers = cors_headers(request, allowed_origins)
    if "Access-Control-Allow-Origin" in headers:
        headers["Access-Control-Allow-Methods"] = ", ".join(dict.fromkeys([*methods, "OPTIONS"]))
        headers["Access-Control-Allow-Headers"] = ", ".join(allow_headers)
        headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
    return _empty(204, headers)


# --- per-client rate limit ------------------------------------------------------------------


MAX_TRUSTED_PROXIES = 10
_MAX_CLIENT_KEY_CHARS = 100


def client_address(request: flask.Request, trusted_proxies: int = 0) -> str:
    """The client's X-Forwarded-For entry, ``trusted_proxies`` left of the last; else the peer.

    Google's front end appends the peer it saw to X-Forwarded-For; entries left of it are whatever
    the client sent (spoofable). With ``trusted_proxies`` proxies in front (1 behind an external
    Application Load Balancer, which appends ``<client IP>, <load balancer IP>``), the client is
    that many entries left of the last one. A header with fewer entries did not come through the
    proxies as configured, and any of its entries may be the client's own words: the socket peer is
    used then, which no client controls (such requests share its bucket rather than escape theirs).
    Entries are opaque keys: never resolved, parsed or validated, only trimmed and capped in length.
    """
    if not 0 <= trusted_proxies <= MAX_TRUSTED_PROXIES:
        raise ValueError(f"trusted_proxies must be between 0 and {MAX_TRUSTED_PROXIES}")
    forwarded = ",".join(request.headers.getlist("X-Forwarded-For"))
    # Proxies never append an empty entry: blanks ("a,,b", a trailing comma) are the client's.
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if len(entries) > trusted_proxies:
        return entries[-1 - trusted_proxies][:_MAX_CLIENT_KEY_CHARS]
    return request.remote_addr or "unknown"


class ClientRateLimiter:
    """A sliding one-minute window per client, within this instance (memory bounded)."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._max_clients = max_clients
        self._clock = clock
        self._hits: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request of ``key``; raise 429 with Retry-After when over the limit."""
        if self.per_minute <= 0:
            return
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or collections.deque()
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            self._hits[key] = hits  # most recently seen last
            while len(self._hits) > self._max_clients:
                self._hits.popitem(last=False)
            if len(hits) >= self.per_minute:
                wait = max(1, math.ceil(60.0 - (now - hits[0])))
                raise AppError(
                    429,
                    "rate_limited",
                    "Too many submissions; try again later",
                    headers={"Retry-After": str(wait)},
                )
            hits.append(now)


# --- error mapping ---------------------------------------------------------------------------


def _retry_after(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return str(DEFAULT_RETRY_AFTER_SECONDS)
    return str(min(MAX_RETRY_AFTER_SECONDS, math.ceil(seconds)))


def _from_webflow(exc: WebflowAPIError) -> AppError:
    status = exc.status_code
    if status == 429 or status >= 500:
        return AppError(
            503,
            "upstream_unavailable",
            "Webflow is rate limiting or unavailable; retry later",
            headers={"Retry-After": _retry_after(exc.retry_after)},
        )
    if status in (401, 403):
        # Our own token was refused: the caller cannot fix that, so it is not a 4xx for them.
        return AppError(502, "upstream_not_authorized", "The function's Webflow token was refused")
    details = webflow_details(exc.details)
    if status == 400 and exc.code != "validation_error":
        return AppError(
            400, exc.code or "bad_request", f"Webflow rejected the request: {exc.message}", details
        )
    return AppError(
        422, exc.code or "unprocessable", f"Webflow rejected the request: {exc.message}", details
    )


def to_app_error(exc: BaseException) -> AppError:
    """Map any exception to the AppError the caller sees."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, ValidationError):
        return AppError(
            400,
            "invalid_request",
            "Request does not match the expected shape",
            validation_details(exc),
        )
    if isinstance(exc, WebflowAPIError):
        return _from_webflow(exc)
    if isinstance(exc, WebflowConnectionError):
        return AppError(
            503,
            "upstream_unavailable",
            "Webflow could not be reached; retry later",
            headers={"Retry-After": str(DEFAULT_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        code = (exc.name or "error").lower().replace(" ", "_")
        return AppError(exc.code, code, exc.description or exc.name or "Request error")
    if isinstance(exc, ConfigError):
        return AppError(500, "configuration_error", "The function is not configured correctly")
    return AppError(500, "internal_error", "Internal error")


def error_response(exc: BaseException) -> flask.Response:
    """Log ``exc`` once and turn it into a JSON error response (never a stack trace)."""
    error = report_error(exc)
    return json_response(error.to_body(), error.status, error.headers)


def report_error(exc: BaseException) -> AppError:
    """Log ``exc`` at the severity its mapping deserves and return that mapping."""
    error = to_app_error(exc)
    extra = {"status": error.status, "code": error.code}
    if (
        error.status >= 500
        and error is not exc
        and not isinstance(exc, (WebflowAPIError, WebflowConnectionError, ConfigError))
    ):
        _log.error("unexpected error: %s", type(exc).__name__, exc_info=exc, extra=extra)
    elif error.status >= 500:
        _log.error("request failed: %s", exc, extra=extra)
    else:
        _log.info("request rejected: %s", error.message, extra=extra)
    return error


# --- the handler wrapper ---------------------------------------------------------------------


def request_id_of(request: flask.Request) -> str:
    """The platform's execution id, else the trace id, else a fresh id."""
    for header in ("Function-Execution-Id", "X-Request-Id"):
        value = request.headers.get(header, "").strip()
        if value and len(value) <= 128:
            return value
    trace = request.headers.get("X-Cloud-Trace-Context", "")
    trace_id = trace.split("/", 1)[0].strip()
    return trace_id if trace_id.isalnum() and len(trace_id) <= 64 else uuid.uuid4().hex


def handle(
    request: flask.Request,
    fn: Handler,
    *,
    methods: Sequence[str] = ("POST",),
    allowed_origins: OriginsSource | None = None,
) -> flask.Response:
    """Run ``fn`` with logging context, method and CORS handling, mapping every error to JSON."""
    request_id = request_id_of(request)
    trace, span_id = trace_context(
        request.headers.get("X-Cloud-Trace-Context"),
        request.headers.get("traceparent"),
        google_project(),
    )
    with bind_context(request_id=request_id, trace=trace, span_id=span_id):
        origins: Sequence[str] = ()
        try:
            if allowed_origins is not None:
                origins = allowed_origins() if callable(allowed_origins) else allowed_origins
                if request.method == "OPTIONS":
                    return preflight_response(request, origins, methods=methods)
            if request.method not in methods:
                allow = [*methods, "OPTIONS"] if allowed_origins is not None else list(methods)
                raise AppError(
                    405,
                    "method_not_allowed",
                    f"Method {request.method} is not allowed; use {', '.join(methods)}",
                    headers={"Allow": ", ".join(allow)},
                )
            response = fn(request)
        except Exception as exc:  # noqa: BLE001 - the one place every error becomes a response
            response = error_response(exc)
        if allowed_origins is not None:
            response.headers.update(cors_headers(request, origins))
        for header in request.environ.get(_VARY_KEY, ()):
            response.vary.add(header)
        response.headers.setdefault("X-Request-Id", request_id)
        return response


@overload
def http_function(fn: Handler) -> Handler: ...


@overload
def http_function(
    *, methods: Sequence[str] = ..., allowed_origins: OriginsSource | None = ...
) -> Callable[[Handler], Handler]: ...


def http_function(
    fn: Handler | None = None,
    *,
    methods: Sequence[str] = ("POST",),
    allowed_origins: OriginsSource | None = None,
) -> Handler | Callable[[Handler], Handler]:
    """Decorator form of :func:`handle` (usable bare or with arguments)."""

    def decorate(inner: Handler) -> Handler:
        @functools.wraps(inner)
        def wrapper(request: flask.Request) -> flask.Response:
            return handle(request, inner, methods=methods, allowed_origins=allowed_origins)

        return wrapper

    return decorate(fn) if fn is not None else decorate
