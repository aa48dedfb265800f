"""The transport: one request sent, paced, retried within a budget and converted to a typed
error; ids checked as they are placed in paths; answers parsed into models."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from shared.webflow.errors import (
    InvalidIdError,
    WebflowAPIError,
    WebflowConnectionError,
    WebflowError,
    WebflowTimeoutError,
    error_for_status,
)
from shared.webflow.models import (
    Collection,
    ErrorInfo,
)
from shared.webflow.pacing import PacingTimeout, SlidingWindowLimiter, limiter_for
from shared.webflow.retry import (
    AMBIGUOUS_STATUSES,
    RETRYABLE_STATUSES,
    RetryBudget,
    RetryPolicy,
    retry_after_from_headers,
)
from shared.webflow.secrets import announce
from shared.webflow.settings import WebflowSettings
from shared.webflow.tls import tls_context

# A child of the functions' logger ("webflow"): their JSON lines, once the logging is configured.
logger = logging.getLogger("webflow.shared.webflow")

DEFAULT_BASE_URL = "https://api.webflow.com/v2"
MAX_ITEMS_PER_REQUEST = 100
UPLOAD_CHUNK_SIZE = 64 * 1024
_MAX_ERROR_TEXT = 2000
_SCHEMA_LOCK_STRIPES = 16

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "webflow_deadline", default=None
)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within the block, client calls wait for pacing or retries only until ``seconds`` from now.

    A pacing wait that would end later raises RateLimitError (retry_after set) without sending;
    a retry that would start later is not made and the failure is raised.
    """
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _deadline_left() -> float | None:
    """Seconds left before the deadline in force, None without one."""
    moment = _deadline.get()
    return None if moment is None else max(moment - time.monotonic(), 0.0)


_WEBFLOW_ID = re.compile(r"[0-9a-f]{24}")


def api_path(template: str, **ids: str) -> str:
    """``template`` with each ``{}`` replaced by the next id, checked and percent-encoded.

    Every id placed in a path is a Webflow id, whatever its source (a caller, object metadata, an
    answer): anything else raises InvalidIdError before a request is made, and each segment is
    quoted with nothing safe, so no value can add a segment or a query.

    Raises:
        InvalidIdError: naming the first id that is not 24 lowercase hex digits.
    """
    segments = []
    for what, value in ids.items():
        if not isinstance(value, str) or not _WEBFLOW_ID.fullmatch(value):
            raise InvalidIdError(what)
        segments.append(quote(value, safe=""))
    return template.format(*segments)


def _chunks(seq: Sequence[T], size: int = MAX_ITEMS_PER_REQUEST) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` elements."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _is_ambiguous_transport_error(exc: httpx.TransportError) -> bool:
    """True when the request may have reached the server before the failure."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class _AmbiguousWrite(WebflowConnectionError):
    """A write failed in a way that leaves unknown whether the server applied it."""

    def __init__(self, cause: WebflowError) -> None:
        super().__init__(f"Outcome unknown: {cause.message}")
        self.cause = cause


def _error_info(err: WebflowError) -> ErrorInfo:
    """Per-item error info from an exception."""
    if isinstance(err, _AmbiguousWrite):
        err = err.cause
    if isinstance(err, WebflowAPIError):
        return ErrorInfo(
            code=err.code,
            message=err.message,
            details=err.details,
            status_code=err.status_code,
        )
    kind = "timeout" if isinstance(err, WebflowTimeoutError) else "connection_error"
    return ErrorInfo(code=kind, message=err.message, details=[], status_code=None)


def _transport_error(what: str, exc: httpx.TransportError) -> WebflowError:
    """The typed error of a transport failure of ``what`` (a request, an upload)."""
    if isinstance(exc, httpx.TimeoutException):
        return WebflowTimeoutError(f"{what} timed out ({type(exc).__name__})")
    return WebflowConnectionError(f"{what} failed: {type(exc).__name__}")


def _invalid_answer(response: httpx.Response, what: str) -> WebflowAPIError:
    """A 2xx answer that cannot be understood, as a bad-gateway error."""
    return error_for_status(
        502,
        "invalid_response",
        f"Webflow answered {response.status_code} with {what}",
        [],
        response.headers.get("x-request-id"),
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object (an empty body is an empty object)."""
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise _invalid_answer(response, "a body that is not JSON") from None
    if not isinstance(body, dict):
        raise _invalid_answer(response, "JSON that is not an object")
    return body


def _parse(cls: type[M], data: Any, response: httpx.Response) -> M:
    """Validate ``data`` as ``cls``; a mismatch is a WebflowAPIError, not a pydantic error."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) if exc.errors() else ""
        raise _invalid_answer(response, f"an unexpected {cls.__name__} ({where})") from None


class Transport:
    """Sending one request: pooled connections, pacing, deadline, retries, error conversion."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit_per_minute: int = 60,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 6,
        max_retry_seconds: float = 40.0,
        max_pacing_wait: float | None = None,
        schema_cache_ttl: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        if not token or not token.strip():
            raise ValueError("token is required")
        announce(token)
        self.__token = token
        self.base_url = base_url.rstrip("/")
        self.rate_limit_per_minute = rate_limit_per_minute
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.policy = RetryPolicy(max_retries=max_retries, max_retry_seconds=max_retry_seconds)
        self.max_pacing_wait = max_pacing_wait
        self.schema_cache_ttl = schema_cache_ttl
        self.limiter = limiter if limiter is not None else limiter_for(token, rate_limit_per_minute)
        self._sleep_fn = sleep
        self._rand = rand
        self._clock = clock
        self._transport = transport
        self._http: httpx.Client | None = None
        self._upload_http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._schemas: dict[str, tuple[float, Collection]] = {}
        self._schema_locks = tuple(threading.Lock() for _ in range(_SCHEMA_LOCK_STRIPES))

    @classmethod
    def from_settings(cls, settings: WebflowSettings, **kwargs: Any) -> Self:
        """Build a client from settings (keyword arguments override)."""
        options: dict[str, Any] = {
            "base_url": settings.webflow_api_base_url,
            "rate_limit_per_minute": settings.webflow_rate_limit_per_minute,
            "timeout": settings.webflow_timeout_seconds,
            "connect_timeout": settings.webflow_connect_timeout_seconds,
            "max_retry_seconds": settings.webflow_max_retry_seconds,
            "schema_cache_ttl": settings.schema_cache_ttl_seconds,
        }
        options.update(kwargs)
        return cls(settings.webflow_api_token.get_secret_value(), **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token='**********')"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            for client in (self._http, self._upload_http):
                if client is not None:
                    client.close()
            self._http = self._upload_http = None

    # ------------------------------------------------------------------ plumbing
    @property
    def http(self) -> httpx.Client:
        """The pooled API client, created on first use."""
        client = self._http
        if client is None:
            client = self._pooled(
                "_http",
                base_url=self.base_url + "/",
                headers={
                    "Authorization": f"Bearer {self.__token}",
                    "Accept": "application/json",
                    "User-Agent": "webflow-functions/0.1",
                },
            )
        return client

    @property
    def upload_http(self) -> httpx.Client:
        """A client without credentials for presigned upload URLs."""
        client = self._upload_http
        if client is None:
            client = self._pooled("_upload_http")
        return client

    def _pooled(self, attribute: str, **options: Any) -> httpx.Client:
        """The client kept in ``attribute``, created once (under the lock) with ``options``."""
        with self._lock:
            client: httpx.Client | None = getattr(self, attribute)
            if client is None:
                client = httpx.Client(
                    timeout=self.timeout,
                    transport=self._transport,
                    verify=self._verify(),
                    follow_redirects=False,
                    **options,
                )
                setattr(self, attribute, client)
            return client

    def _verify(self) -> ssl.SSLContext | bool:
        """The shared TLS context (an injected transport brings its own)."""
        return tls_context() if self._transport is None else True

    def _sleep(self, seconds: float) -> None:
        """Wait before a retry (injectable)."""
        if seconds > 0:
            self._sleep_fn(seconds)

    def _budget(self) -> RetryBudget:
        """A retry budget for one operation, cut short by the deadline in force."""
        policy = self.policy
        left = _deadline_left()
        if left is not None and left < policy.max_retry_seconds:
            policy = dataclasses.replace(policy, max_retry_seconds=left)
        return RetryBudget(policy, clock=self._clock, rand=self._rand)

    def _pacing_wait(self, budget: RetryBudget) -> float:
        """How long the next request may wait for a pacing slot."""
        wait = budget.remaining if self.max_pacing_wait is None else self.max_pacing_wait
        left = _deadline_left()
        return wait if left is None else min(wait, left)

    def _url(self, path: str) -> str:
        # Paths are built by api_path, whose ids are checked and quoted segment by segment.
        return path.lstrip("/")

    def _make_error(self, response: httpx.Response) -> WebflowAPIError:
        """Convert an error answer into the matching WebflowAPIError."""
        code = message = None
        details: list[dict[str, Any]] = []
        body: Any = None
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = response.text[:_MAX_ERROR_TEXT]
            message = body.strip() or None
        if isinstance(body, dict):
            code = body.get("code") if isinstance(body.get("code"), str) else None
            message = body.get("message") if isinstance(body.get("message"), str) else None
            raw_details = body.get("details")
            if isinstance(raw_details, list):
                details = [
                    d if isinstance(d, dict) else {"description": str(d)} for d in raw_details
                ]
        return error_for_status(
            response.status_code,
            code,
            message,
            details,
            response.headers.get("x-request-id"),
            retry_after_from_headers(response.headers),
            body=body,
        )

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_wait: float | None = None,
    ) -> httpx.Response:
        """One paced request; transport failures become WebflowConnectionError.

        Raises:
            RateLimitError: without sending, when pacing would wait longer than ``max_wait``.
        """
        try:
            slot = self.limiter.acquire(max_wait=max_wait)
        except PacingTimeout as exc:
            raise error_for_status(
                429,
                "too_many_requests",
                f"Rate limit of {self.limiter.limit} requests per minute reached",
                [],
                None,
                math.ceil(exc.retry_after),
            ) from None
        response: httpx.Response | None = None
        started = time.perf_counter()
        try:
            response = self.http.request(
                method,
                self._url(path),
                params={k: v for k, v in (params or {}).items() if v is not None} or None,
                json=json,
            )
            return response
        except httpx.TransportError as exc:
            error = _transport_error(f"{method} {path}", exc)
            if _is_ambiguous_transport_error(exc):
                error = _AmbiguousWrite(error)
            raise error from exc
        finally:
            if response is not None:
                self.limiter.complete(slot, response.headers, authoritative=response.is_success)
                logger.debug(
                    "webflow request",
                    extra={
                        "method": method,
                        "path": path,
                        "status": response.status_code,
                        "elapsedMs": round((time.perf_counter() - started) * 1000, 1),
                        "rateLimitRemaining": response.headers.get("x-ratelimit-remaining"),
                        "webflowRequestId": response.headers.get("x-request-id"),
                    },
                )
            else:
                self.limiter.complete(slot)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
        budget: RetryBudget | None = None,
        gone_after_retry_ok: bool = False,
    ) -> httpx.Response:
        """Send with pacing and retries; return a 2xx answer or raise the typed error.

        A non-idempotent request is retried only when it certainly did not take effect; otherwise
        ``_AmbiguousWrite`` is raised so that the caller can find out before trying again. With
        ``gone_after_retry_ok`` (deletes), a 404 to a retry of a send whose outcome was unknown
        means the first send did the job, and that answer is returned.
        """
        budget = budget or self._budget()
        outcome_unknown = False
        while True:
            try:
                response = self._send_once(
                    method, path, params=params, json=json, max_wait=self._pacing_wait(budget)
                )
            except _AmbiguousWrite as exc:
                if not idempotent:
                    raise
                failure: WebflowError = exc.cause
                retry_after = None
                outcome_unknown = True
            except WebflowConnectionError as exc:
                failure = exc
                retry_after = None
            else:
                if response.is_success:
                    return response
                if response.status_code == 404 and gone_after_retry_ok and outcome_unknown:
                    return response
                error = self._make_error(response)
                outcome_unknown = outcome_unknown or response.status_code in AMBIGUOUS_STATUSES
                if response.status_code not in RETRYABLE_STATUSES:
                    raise error
                if not idempotent and response.status_code in AMBIGUOUS_STATUSES:
                    raise _AmbiguousWrite(error)
                failure, retry_after = error, error.retry_after
            delay = budget.next_delay(retry_after)
            if delay is None:
                raise failure
            logger.warning(
                "retrying Webflow request",
                extra={
                    "method": method,
                    "path": path,
                    "failure": str(failure),
                    "retry": budget.retries,
                    "delaySeconds": round(delay, 3),
                },
            )
            self._sleep(delay)

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self._request("GET", path, params=params)
