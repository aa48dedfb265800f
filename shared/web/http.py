"""Request parsing, API-key auth, CORS and the one error-to-response mapping of HTTP functions."""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import urlencode, urlsplit, urlunsplit

import flask
from pydantic import BaseModel, SecretStr, ValidationError
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from shared.core.config import MAX_TRUSTED_PROXIES, ConfigError
from shared.core.log import add_secret, bind_context, get_logger, google_project, trace_context
from shared.core.problems import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    Problem,
    TooManyRequests,
    Unavailable,
    Unprocessable,
    UpstreamRefused,
    field_path,
    upstream_problem,
    validation_details,
    webflow_details,
    whole_seconds,
)
from shared.web.clients import ClientRateLimiter, client_address, client_key
from shared.web.pages import PAGE_HEADERS, error_page, thank_you_page
from shared.webflow.errors import WebflowError

if TYPE_CHECKING:
    from shared.cms.publishing import PublishSettings
    from shared.web.forms import FormPost, FormReply
    from shared.web.settings import FormSettings

__all__ = [
    "FORM_TYPES",
    "JSON_TYPES",
    "MAX_TRUSTED_PROXIES",
    "AppError",
    "ClientRateLimiter",
    "FormData",
    "back_url",
    "caller_digest",
    "client_address",
    "client_key",
    "cors_headers",
    "error_location",
    "error_response",
    "field_path",
    "form_answer",
    "form_error_answer",
    "handle",
    "html_response",
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
    "require_key_in",
    "scheduler_invoker",
    "success_location",
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
MAX_RETRY_AFTER_SECONDS = 3600
DEFAULT_CORS_HEADERS = ("Content-Type", "Accept", "Authorization", "X-Requested-With")
CORS_MAX_AGE_SECONDS = 600
_BODY_CACHE_KEY = "webflow_functions.body"
_VARY_KEY = "webflow_functions.vary"


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
    return validate_body(model, read_json(request, max_bytes))


def validate_body(model: type[M], data: Any) -> M:
    """Validate parsed JSON into ``model`` (400 with field paths when invalid)."""
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


# --- auth and CORS ---------------------------------------------------------------------------


def _presented(request: flask.Request) -> tuple[str, str]:
    """(scheme, key) of the request's Authorization header."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme, presented.strip()


def caller_digest(request: flask.Request) -> str:
    """A digest of the API key the caller presented (after :func:`require_api_key`): who the
    caller is, for scoping what it names (an Idempotency-Key), never the key itself."""
    return hashlib.sha256(_presented(request)[1].encode()).hexdigest()[:32]


def _one_of(presented: str, keys: Sequence[SecretStr | str]) -> bool:
    """True when ``presented`` is one of ``keys``.

    Digests of equal length on both sides: compare_digest's time then reveals neither the keys'
    lengths nor how much of one matched. No early exit: every key is compared, so timing tells
    nothing about which one matched either.
    """
    candidate = hashlib.sha256(presented.encode()).digest()
    matched = False
    for key in keys:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        add_secret(secret)
        matched |= hmac.compare_digest(candidate, hashlib.sha256(secret.encode()).digest())
    return matched


def require_key_in(
    request: flask.Request, keys: Sequence[SecretStr | str], *, code: str, message: str
) -> None:
    """After :func:`require_api_key`: refuse (403, ``code``) a known key that is not one of
    ``keys``, the keys of the one operation asked for."""
    if not _one_of(_presented(request)[1], keys):
        raise Forbidden(code, message, [{"field": "Authorization", "message": "may not do this"}])


def require_api_key(
    request: flask.Request, keys: Sequence[SecretStr | str], *, realm: str = "webflow-functions"
) -> None:
    """Accept ``Authorization: Bearer <key>`` matching one of ``keys`` (constant time), else 401."""
    challenge = f'Bearer realm="{realm}"'
    scheme, presented = _presented(request)
    if scheme.lower() != "bearer" or not presented:
        raise AppError(
            401,
            "unauthorized",
            "An API key is required",
            [{"field": "Authorization", "message": "must be Bearer <API key>"}],
            headers={"WWW-Authenticate": challenge},
        )
    if not _one_of(presented, keys):
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


_UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f\\]")


# --- forms: where the browser goes ----------------------------------------------------------------


def _allowed_redirect(location: str | None, settings: FormSettings) -> str | None:
    """A `_redirect` is followed only to an origin listed by name (never an open redirect).

    ALLOWED_ORIGINS "*" lets any page post the form, but does not let the post send the browser
    anywhere. Whitespace and control characters are refused: urlsplit drops some of them before
    parsing, so the origin checked could differ from where the browser would go.
    """
    if not location or _UNSAFE_URL_CHARACTER.search(location):
        return None
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    listed = [entry for entry in settings.origins if entry != "*"]
    trusted = [*listed, *_origins_of(settings.form_success_url, settings.form_error_url)]
    return location if origin_allowed(origin, trusted) else None


def _origins_of(*urls: str | None) -> list[str]:
    origins = []
    for url in urls:
        parts = urlsplit(url or "")
        if parts.scheme and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def success_location(post: FormPost | None, settings: FormSettings) -> str | None:
    """Where to send the browser after a successful post: `_redirect`, else FORM_SUCCESS_URL."""
    return _allowed_redirect(post.redirect if post else None, settings) or settings.form_success_url


def error_location(error: AppError, settings: FormSettings) -> str | None:
    """FORM_ERROR_URL with the error's code, message and fields in the query, or None."""
    if not settings.form_error_url:
        return None
    query = [("error", error.code), ("message", error.message)]
    query += [
        ("field", f"{detail.get('field')}: {detail.get('message')}") for detail in error.details
    ]
    parts = urlsplit(settings.form_error_url)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


# --- form answers: redirects, pages or JSON ---------------------------------------------------------------------------


def form_answer(
    request: flask.Request, settings: FormSettings, post: FormPost, reply: FormReply
) -> flask.Response:
    """A browser: 303 to `_redirect`/FORM_SUCCESS_URL, else a thank-you page; others: JSON."""
    error = _form_failure(reply)
    if error is not None:
        return form_error_answer(request, settings, error)
    if wants_json(request):
        return json_response(reply.to_json(), reply.status_code)
    location = success_location(post, settings)
    if location is not None:
        return redirect_response(location)
    if not names_html(request):  # fetch() and curl send */*: they keep JSON
        return json_response(reply.to_json(), reply.status_code)
    page = thank_you_page(back_url(request, settings), file_not_stored=reply.status_code == 207)
    return html_response(page, reply.status_code)


def _form_failure(reply: FormReply) -> AppError | None:
    """The failure to show a browser, if the post failed."""
    if reply.rejected is not None:
        return to_app_error(reply.rejected)
    if reply.outcome is None or reply.status_code < 400:
        return None
    failed = reply.outcome.results[0].error
    code, message = (failed.code, failed.message) if failed else ("not_created", "Not created")
    return AppError(reply.status_code, code, message, failed.details if failed else None)


def form_error_answer(
    request: flask.Request, settings: FormSettings, exc: Exception
) -> flask.Response:
    """A browser: 303 to FORM_ERROR_URL with the error, else a page saying what is wrong in
    words; others: the ordinary JSON error."""
    error = None if wants_json(request) else to_app_error(exc)
    location = error_location(error, settings) if error is not None else None
    if error is None or (location is None and not names_html(request)):
        raise exc
    report_error(exc)
    if location is not None:
        return redirect_response(location)
    page = error_page(error.message, error.details, back_url(request, settings))
    return html_response(page, error.status, error.headers)


def back_url(request: flask.Request, settings: FormSettings) -> str | None:
    """The page the form was posted from (Referer), when its origin is one the function trusts
    for redirects; else None."""
    return _allowed_redirect(request.headers.get("Referer"), settings)


def html_response(
    page: str, status: int, headers: Mapping[str, str] | None = None
) -> flask.Response:
    """An HTML page answer, inert (see PAGE_HEADERS)."""
    return flask.Response(
        page,
        status=status,
        headers={**PAGE_HEADERS, **(headers or {})},
        mimetype="text/html",
    )


# --- the scheduler's OIDC identity ----------------------------------------------------------


def scheduler_invoker(request: flask.Request, settings: PublishSettings) -> str | None:
    """The allowed invoker whose verified OIDC token the request bears; None for a non-token.

    Only a bearer value shaped like a JWT is taken for a token, and only when
    PUBLISH_ALLOWED_INVOKERS names someone; anything else is left to the API-key check.

    Raises:
        NotAuthenticated, Forbidden: a token that fails verification, or of another identity.
        Unavailable: Google's certificates cannot be fetched.
    """
    from shared.core.oidc import is_jwt, verify_invoker  # only publish-live reads tokens

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if not settings.allowed_invokers or scheme.lower() != "bearer" or not is_jwt(token):
        return None
    return verify_invoker(
        token,
        audiences=settings.oidc_audiences,
        allowed_invokers=settings.allowed_invokers,
        certs_url=settings.publish_oidc_certs_url,
    )


# --- per-client rate limit ------------------------------------------------------------------


# --- error mapping ---------------------------------------------------------------------------


# The one table of HTTP statuses of the domain's problems.
PROBLEM_STATUS: tuple[tuple[type[Problem], int], ...] = (
    (InvalidInput, 400),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (Conflict, 409),
    (Unprocessable, 422),
    (UpstreamRefused, 502),
    (TooManyRequests, 429),
    (Unavailable, 503),
)


def _from_problem(problem: Problem) -> AppError:
    status = next((code for kind, code in PROBLEM_STATUS if isinstance(problem, kind)), 500)
    headers: dict[str, str] = {}
    if isinstance(problem, (Unavailable, TooManyRequests)):
        headers["Retry-After"] = whole_seconds(problem.retry_after)
    if isinstance(problem, NotAuthenticated) and problem.realm:
        headers["WWW-Authenticate"] = f'Bearer realm="{problem.realm}", error="invalid_token"'
    return AppError(status, problem.code, problem.message, problem.details, headers)


def to_app_error(exc: BaseException) -> AppError:
    """Map any exception to the AppError the caller sees."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, Problem):
        return _from_problem(exc)
    if isinstance(exc, ValidationError):
        return AppError(
            400,
            "invalid_request",
            "Request does not match the expected shape",
            validation_details(exc),
        )
    if isinstance(exc, WebflowError):
        return _from_problem(upstream_problem(exc))
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
        and not isinstance(exc, (Problem, WebflowError, ConfigError))
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
