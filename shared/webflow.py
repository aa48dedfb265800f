"""The Webflow Data API v2 client: paced, retried, chunked, and safe against duplicate creates.

How a call travels:

- Pacing: every request takes a slot from the token's process-wide sliding-minute limiter
  (shared/pacing.py). A wait longer than the retry budget (or ``max_pacing_wait`` when set) is
  answered with RateLimitError (retry_after set) instead of blocking past the function's timeout.
- Deadline: inside ``with deadline(seconds):`` no pacing wait or retry goes past that moment,
  so a run bounded in time stops cleanly instead of being killed.
- Retries: connection errors, timeouts, 408, 429 and 5xx are retried with capped exponential
  backoff and jitter, or after Retry-After when it fits; the whole sequence is bounded by
  ``max_retries`` and ``max_retry_seconds`` (shared/retry.py). Then the typed error is raised.
- Errors: every failure leaves as a shared/errors.py class, with Webflow's code, message, details
  and request id intact.
- Creates are not idempotent. A create whose outcome is unknown (read timeout, connection dropped
  after sending, 5xx) is sent again; slugs are unique per collection, so a duplicate-slug refusal
  of an item from that unknown send means the first send created it: the client then fetches the
  newest items and reports it "created". Nothing is ever sent twice successfully. A slug that
  already existed is reported per item as failed with code "duplicate_slug".
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json as jsonlib
import math
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.config import WebflowSettings
from shared.errors import (
    BadRequestError,
    ConflictError,
    InvalidIdError,
    NotFoundError,
    WebflowAPIError,
    WebflowConnectionError,
    WebflowError,
    WebflowTimeoutError,
    duplicate_slug_of,
    error_for_status,
)
from shared.log import add_secret, get_logger
from shared.models import (
    Asset,
    AssetUpload,
    Collection,
    ErrorInfo,
    Item,
    ItemList,
    ItemPublish,
    ItemResult,
    ItemUpdate,
    NewItem,
    PublishResult,
    Site,
)
from shared.pacing import PacingTimeout, SlidingWindowLimiter, limiter_for
from shared.retry import (
    AMBIGUOUS_STATUSES,
    RETRYABLE_STATUSES,
    RetryBudget,
    RetryPolicy,
    retry_after_from_headers,
)
from shared.tls import tls_context

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ITEMS_PER_REQUEST",
    "WebflowClient",
    "api_path",
    "deadline",
    "get_client",
    "multipart_body",
]

DEFAULT_BASE_URL = "https://api.webflow.com/v2"
MAX_ITEMS_PER_REQUEST = 100
UPLOAD_CHUNK_SIZE = 64 * 1024
_MAX_ERROR_TEXT = 2000
_SCHEMA_LOCK_STRIPES = 16

logger = get_logger("shared.webflow")

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


def _escape_header_value(value: str) -> str:
    """Quote a multipart parameter the way browsers do (no raw quotes or line breaks)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass
class _MultipartBody:
    """A multipart/form-data body streamed from a file: exact length, constant memory."""

    preamble: bytes
    epilogue: bytes
    stream: BinaryIO
    size: int
    boundary: str
    chunk_size: int = UPLOAD_CHUNK_SIZE

    @property
    def content_length(self) -> int:
        """Exact number of bytes the body will yield."""
        return len(self.preamble) + self.size + len(self.epilogue)

    @property
    def content_type(self) -> str:
        """The Content-Type header value with the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        yield self.preamble
        left = self.size
        while left > 0:
            chunk = self.stream.read(min(self.chunk_size, left))
            if not chunk:
                raise ValueError(f"stream ended {left} bytes before the declared size {self.size}")
            left -= len(chunk)
            yield chunk
        yield self.epilogue


def multipart_body(
    fields: Mapping[str, str],
    file_name: str,
    stream: BinaryIO,
    size: int,
    content_type: str,
    *,
    boundary: str | None = None,
    chunk_size: int = UPLOAD_CHUNK_SIZE,
) -> _MultipartBody:
    """Build a multipart body: ``fields`` in their order, then the ``file`` part streamed from ``stream``."""
    if size < 0:
        raise ValueError("size must be non-negative")
    boundary = boundary or f"----webflow-{os.urandom(16).hex()}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{_escape_header_value(name)}"\r\n\r\n'.encode()
            + str(value).encode()
            + b"\r\n"
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_escape_header_value(file_name)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    return _MultipartBody(b"".join(parts), epilogue, stream, size, boundary, chunk_size)


def _s3_error(response: httpx.Response) -> WebflowAPIError:
    """Convert an S3-style XML error answer into a WebflowAPIError."""
    from xml.etree import ElementTree  # only upload errors need it

    code = message = None
    text = response.text[:_MAX_ERROR_TEXT]
    try:
        root = ElementTree.fromstring(response.content[:65536])
        code = root.findtext("Code")
        message = root.findtext("Message")
    except ElementTree.ParseError:
        message = text or None
    return error_for_status(
        response.status_code,
        code or f"upload_failed_{response.status_code}",
        message or f"Upload answered {response.status_code}",
        [],
        response.headers.get("x-amz-request-id") or response.headers.get("x-request-id"),
        retry_after_from_headers(response.headers),
        body=text,
    )


_INDEX_PARAM = re.compile(r"^(?:items|fieldData)?\s*[\[.](?P<index>\d+)[\].]")


def _detail_index(detail: Mapping[str, Any]) -> int | None:
    """The request-body index a detail names (``items[3].fieldData.name``), if any."""
    param = detail.get("param")
    if not isinstance(param, str):
        return None
    match = _INDEX_PARAM.match(param)
    return int(match.group("index")) if match else None


class _CollectionList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    collections: list[Collection] = []


class _AssetList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    assets: list[Asset] = []


@dataclass
class _Pending:
    """An item of a create call still waiting for an outcome."""

    index: int
    item: NewItem
    maybe_ours: bool = False  # was in a send whose outcome is unknown


@dataclass
class _CreateRoute:
    """How a group of new items is sent: endpoint and shared bulk settings."""

    path: str
    bulk_locale_ids: list[str] | None = None
    is_draft: bool = False
    is_archived: bool = False

    def body(self, pending: Sequence[_Pending]) -> dict[str, Any]:
        """The request body for ``pending``."""
        if self.bulk_locale_ids is not None:
            return {
                "cmsLocaleIds": self.bulk_locale_ids,
                "isDraft": self.is_draft,
                "isArchived": self.is_archived,
                "fieldData": [p.item.field_data for p in pending],
            }
        return {
            "items": [
                {
                    "fieldData": p.item.field_data,
                    "isDraft": p.item.is_draft,
                    "isArchived": p.item.is_archived,
                }
                for p in pending
            ]
        }


def _outcome_unknown() -> ErrorInfo:
    """The failure of an item that Webflow may have created: its answer and the look-up failed."""
    return ErrorInfo(
        code="outcome_unknown",
        message="Webflow may have created the item: its answer was lost and the look-up failed",
    )


class WebflowClient:
    """Synchronous client of the Webflow Data API v2 (one per instance; thread-safe)."""

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
        add_secret(token)
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
    def from_settings(cls, settings: WebflowSettings, **kwargs: Any) -> WebflowClient:
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
        return f"WebflowClient(base_url={self.base_url!r}, token='**********')"

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

    # ------------------------------------------------------------------ sites and collections
    def get_site(self, site_id: str) -> Site:
        """GET /sites/{site_id}: the site with its locales."""
        response = self._get(api_path("sites/{}", site=site_id))
        return _parse(Site, _json_object(response), response)

    def list_collections(self, site_id: str) -> list[Collection]:
        """GET /sites/{site_id}/collections (without field schemas)."""
        response = self._get(api_path("sites/{}/collections", site=site_id))
        return _parse(_CollectionList, _json_object(response), response).collections

    def get_collection(self, collection_id: str, *, refresh: bool = False) -> Collection:
        """GET /collections/{collection_id}: the schema, cached for ``schema_cache_ttl`` seconds."""
        seen = self._schemas.get(collection_id)
        if seen is not None and not refresh and self._clock() - seen[0] < self.schema_cache_ttl:
            return seen[1]
        # One fetch per collection at a time: the threads of a cold instance wait for it instead of
        # each spending a request of the token's quota on the same schema.
        stripe = int.from_bytes(hashlib.blake2b(collection_id.encode(), digest_size=2).digest())
        with self._schema_locks[stripe % len(self._schema_locks)]:
            cached = self._schemas.get(collection_id)
            if cached is not None and cached is not seen:
                return cached[1]  # fetched by another thread while this one waited
            now = self._clock()
            response = self._get(api_path("collections/{}", collection=collection_id))
            collection = _parse(Collection, _json_object(response), response)
            self._schemas[collection_id] = (now, collection)
            return collection

    # ------------------------------------------------------------------ items: reads
    @staticmethod
    def _items_path(collection_id: str, live: bool) -> str:
        return api_path("collections/{}/items", collection=collection_id) + (
            "/live" if live else ""
        )

    def list_items(
        self,
        collection_id: str,
        *,
        live: bool = False,
        offset: int = 0,
        limit: int = MAX_ITEMS_PER_REQUEST,
        cms_locale_id: str | None = None,
        name: str | None = None,
        slug: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> ItemList:
        """One page of items (staged, or published with ``live``)."""
        params = {
            "offset": offset,
            "limit": limit,
            "cmsLocaleId": cms_locale_id,
            "name": name,
            "slug": slug,
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        response = self._get(self._items_path(collection_id, live), params)
        return _parse(ItemList, _json_object(response), response)

    def iter_items(
        self,
        collection_id: str,
        *,
        live: bool = False,
        cms_locale_id: str | None = None,
        **filters: Any,
    ) -> Iterator[Item]:
        """Every item across all pages."""
        offset = 0
        while True:
            page = self.list_items(
                collection_id,
                live=live,
                offset=offset,
                limit=MAX_ITEMS_PER_REQUEST,
                cms_locale_id=cms_locale_id,
                **filters,
            )
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.pagination.total:
                return

    def find_item_by_slug(
        self, collection_id: str, slug: str, *, cms_locale_id: str | None = None, live: bool = False
    ) -> Item | None:
        """The item whose slug is exactly ``slug``, or None."""
        page = self.list_items(collection_id, live=live, slug=slug, cms_locale_id=cms_locale_id)
        for item in page.items:
            if item.slug == slug:
                return item
        return None

    def get_item(
        self,
        collection_id: str,
        item_id: str,
        *,
        live: bool = False,
        cms_locale_id: str | None = None,
    ) -> Item:
        """GET one item (staged, or published with ``live``)."""
        path = api_path("collections/{}/items/{}", collection=collection_id, item=item_id) + (
            "/live" if live else ""
        )
        response = self._get(path, {"cmsLocaleId": cms_locale_id})
        return _parse(Item, _json_object(response), response)

    # ------------------------------------------------------------------ items: create
    def create_item(self, collection_id: str, item: NewItem, *, live: bool = False) -> Item:
        """Create one item; raises the typed error when it fails (never creates a duplicate)."""
        (result,) = self.create_items(collection_id, [item], live=live)
        if result.item is not None and result.status == "created":
            return result.item
        error = result.error or ErrorInfo(code="not_created", message="Item was not created")
        if error.status_code is None:
            if error.code == "timeout":
                raise WebflowTimeoutError(error.message)
            if error.code in ("connection_error", "not_created"):
                raise WebflowConnectionError(error.message)
        raise error_for_status(error.status_code or 400, error.code, error.message, error.details)

    def create_items(
        self, collection_id: str, items: Sequence[NewItem], *, live: bool = False
    ) -> list[ItemResult]:
        """Create items in requests of at most 100; one result per input, in input order.

        Items with ``cms_locale_ids`` go to the bulk endpoint (grouped by locales and flags). After a
        failure that leaves unknown whether a request was applied, the items are re-sent: a
        duplicate-slug answer for an item of that send means the first send created it (it is
        then fetched and reported "created"). A slug that already existed before is reported as
        failed with code "duplicate_slug". Validation errors are attributed to their items, and the
        other items of the request are sent again.

        Raises:
            WebflowError: on a failure that is not about particular items (auth, unknown collection,
                retries exhausted); its ``partial_results`` hold the items settled before it, the
                created ones included.
        """
        results: list[ItemResult | None] = [None] * len(items)
        seen_slugs: dict[str, int] = {}
        groups: dict[tuple[Any, ...], list[_Pending]] = {}
        for index, item in enumerate(items):
            slug = item.slug
            if slug is not None:
                first = seen_slugs.setdefault(slug, index)
                if first != index:
                    results[index] = ItemResult(
                        index=index,
                        status="failed",
                        error=ErrorInfo(
                            code="duplicate_slug",
                            message=f"Slug '{slug}' is repeated in the request (first at index {first})",
                            details=[
                                {"param": "slug", "description": f"Duplicate of item {first}"}
                            ],
                            status_code=None,
                        ),
                    )
                    continue
            if item.cms_locale_ids:
                key: tuple[Any, ...] = (
                    "bulk",
                    tuple(item.cms_locale_ids),
                    item.is_draft,
                    item.is_archived,
                )
            else:
                key = ("items",)
            groups.setdefault(key, []).append(_Pending(index, item))
        with _reporting_partial(results):
            for key, pending in groups.items():
                if key[0] == "bulk":
                    route = _CreateRoute(
                        api_path("collections/{}/items/bulk", collection=collection_id),
                        bulk_locale_ids=list(key[1]),
                        is_draft=key[2],
                        is_archived=key[3],
                    )
                else:
                    route = _CreateRoute(self._items_path(collection_id, live))
                for chunk in _chunks(pending):
                    self._create_chunk(collection_id, route, list(chunk), results)
        return [
            result
            if result is not None
            else ItemResult(
                index=index,
                status="failed",
                error=ErrorInfo(code="not_created", message="Webflow did not create the item"),
            )
            for index, result in enumerate(results)
        ]

    @staticmethod
    def _created(results: list[ItemResult | None], pending: _Pending, item: Item) -> None:
        results[pending.index] = ItemResult(index=pending.index, status="created", item=item)

    @staticmethod
    def _failed(results: list[ItemResult | None], pending: _Pending, error: ErrorInfo) -> None:
        results[pending.index] = ItemResult(index=pending.index, status="failed", error=error)

    def _create_chunk(
        self,
        collection_id: str,
        route: _CreateRoute,
        pending: list[_Pending],
        results: list[ItemResult | None],
    ) -> None:
        """Create one chunk (≤100 items) until every item has an outcome.

        When the chunk fails as a whole, an item of a send whose outcome stayed unknown (the
        look-up that would have told failed too) is reported failed with code "outcome_unknown"
        before the error leaves: a caller must not take it for unsent.
        """
        try:
            self._send_chunk(collection_id, route, pending, results)
        except WebflowError:
            for p in pending:
                if p.maybe_ours and results[p.index] is None:
                    self._failed(results, p, _outcome_unknown())
            raise

    def _send_chunk(
        self,
        collection_id: str,
        route: _CreateRoute,
        pending: list[_Pending],
        results: list[ItemResult | None],
    ) -> None:
        """Send one chunk, splitting and re-sending, until every item has an outcome or it fails."""
        budget = self._budget()
        work: list[list[_Pending]] = [pending]
        while work:
            batch = work.pop(0)
            if not batch:
                continue
            try:
                response = self._request(
                    "POST", route.path, json=route.body(batch), idempotent=False, budget=budget
                )
            except _AmbiguousWrite as exc:
                for p in batch:
                    p.maybe_ours = True
                delay = budget.next_delay()
                if delay is None:
                    self._settle_unknown(collection_id, route, batch, results, exc)
                    continue
                logger.warning(
                    "create outcome unknown; re-sending, duplicate slugs will tell what was applied",
                    extra={
                        "items": len(batch),
                        "failure": str(exc.cause),
                        "delaySeconds": round(delay, 3),
                    },
                )
                self._sleep(delay)
                work.insert(0, batch)
                continue
            except BadRequestError as exc:
                work[:0] = self._split_bad_request(collection_id, route, batch, exc, results)
                continue
            except (WebflowAPIError, WebflowConnectionError) as exc:
                # Not about particular items (auth, collection, exhausted retries): stop the call,
                # but items that may already exist are checked first so nothing is reported wrongly.
                if any(p.maybe_ours for p in batch):
                    self._settle_unknown(collection_id, route, batch, results, exc, reraise=True)
                raise
            self._record_created(route, batch, response, results)

    def _record_created(
        self,
        route: _CreateRoute,
        batch: Sequence[_Pending],
        response: httpx.Response,
        results: list[ItemResult | None],
    ) -> None:
        """Map a 2xx create answer back to the batch's items."""
        body = _json_object(response)
        raw = body.get("items") if "items" in body else [body]
        created = [_parse(Item, doc, response) for doc in raw or [] if isinstance(doc, dict)]
        if route.bulk_locale_ids is None and len(created) == len(batch):
            for p, item in zip(batch, created, strict=True):
                self._created(results, p, item)
            return
        # Bulk answers hold one variant per locale: pick each item's primary-requested variant.
        by_slug: dict[str, Item] = {}
        wanted = route.bulk_locale_ids[0] if route.bulk_locale_ids else None
        for item in created:
            if item.slug is None:
                continue
            current = by_slug.get(item.slug)
            if current is None or (
                item.cms_locale_id == wanted and current.cms_locale_id != wanted
            ):
                by_slug[item.slug] = item
        stride = max(len(created) // len(batch), 1) if batch else 1
        for position, p in enumerate(batch):
            match = by_slug.get(p.item.slug or "")
            if match is None and position * stride < len(created):
                match = created[position * stride]
            if match is None:
                self._failed(
                    results,
                    p,
                    ErrorInfo(code="missing_in_response", message="Item not in the answer"),
                )
            else:
                self._created(results, p, match)

    def _split_bad_request(
        self,
        collection_id: str,
        route: _CreateRoute,
        batch: list[_Pending],
        exc: BadRequestError,
        results: list[ItemResult | None],
    ) -> list[list[_Pending]]:
        """Attribute a 400 to the batch's items; return the batches still to send."""
        by_slug = {p.item.slug: p for p in batch if p.item.slug}
        flagged: dict[int, list[dict[str, Any]]] = {}
        duplicates: list[_Pending] = []
        for detail in exc.details:
            slug = duplicate_slug_of(detail)
            if slug is not None and slug in by_slug:
                duplicates.append(by_slug[slug])
                continue
            position = _detail_index(detail)
            if position is not None and 0 <= position < len(batch):
                flagged.setdefault(batch[position].index, []).append(detail)

        settled: set[int] = set()
        ours = [p for p in duplicates if p.maybe_ours]
        if ours:
            # The send whose outcome was unknown probably created these: fetch what exists now.
            candidates = [p for p in batch if p.maybe_ours]
            found = self._find_by_slugs(
                collection_id,
                route,
                [p.item.slug for p in candidates if p.item.slug],
                required={p.item.slug for p in ours if p.item.slug},
            )
            for p in candidates:
                item = found.get(p.item.slug or "")
                if item is not None and _same_item(p.item, item):
                    self._created(results, p, item)
                    settled.add(p.index)
        for p in duplicates:
            if p.index in settled:
                continue
            self._failed(
                results,
                p,
                ErrorInfo(
                    code="duplicate_slug",
                    message=f"Unique value is already in database: '{p.item.slug}'",
                    details=[d for d in exc.details if duplicate_slug_of(d) == p.item.slug],
                    status_code=400,
                ),
            )
            settled.add(p.index)
        for p in batch:
            if p.index in flagged and p.index not in settled:
                self._failed(
                    results, p, _error_info(exc).model_copy(update={"details": flagged[p.index]})
                )
                settled.add(p.index)

        rest = [p for p in batch if p.index not in settled]
        if not rest:
            return []
        if len(rest) == 1 and not settled:
            self._failed(results, rest[0], _error_info(exc))
            return []
        unattributed = [
            d
            for d in exc.details
            if duplicate_slug_of(d) not in by_slug and _detail_index(d) is None
        ]
        if not unattributed and settled:
            return [rest]
        # The answer does not say which items are wrong. Items that cannot have caused any of the
        # details go first as one request; the suspects are halved until each error is pinned on
        # one item (a lone item refused is certainly the culprit).
        suspected: set[int] = set()
        for detail in unattributed or [{}]:
            suspected.update(p.index for p in _suspects(detail, rest))
        innocent = [p for p in rest if p.index not in suspected]
        suspects = [p for p in rest if p.index in suspected]
        if not innocent and settled:
            return [rest]
        return ([innocent] if innocent else []) + _halves(suspects)

    def _find_by_slugs(
        self,
        collection_id: str,
        route: _CreateRoute,
        slugs: Sequence[str],
        *,
        required: set[str],
    ) -> dict[str, Item]:
        """Items that exist now for ``slugs``: newest pages first, then one look-up per required slug.

        Items created by our own recent send are the newest of the collection, so one or two pages
        sorted by creation date usually find them all; slugs the server said exist but were not on
        those pages are fetched one by one. The staged list is read: it holds live-created items too.
        """
        locale = route.bulk_locale_ids[0] if route.bulk_locale_ids else None
        wanted = set(slugs)
        found: dict[str, Item] = {}
        if len(wanted) > 2:
            pages = math.ceil(len(wanted) / MAX_ITEMS_PER_REQUEST) + 1
            for page_number in range(pages):
                page = self.list_items(
                    collection_id,
                    offset=page_number * MAX_ITEMS_PER_REQUEST,
                    limit=MAX_ITEMS_PER_REQUEST,
                    cms_locale_id=locale,
                    sort_by="createdOn",
                    sort_order="desc",
                )
                for item in page.items:
                    if item.slug in wanted and item.slug not in found:
                        found[item.slug] = item
                if len(found) == len(wanted) or len(page.items) < MAX_ITEMS_PER_REQUEST:
                    break
        missing = sorted(required - set(found)) if len(wanted) > 2 else sorted(wanted)
        for slug in missing:
            lookup = self.find_item_by_slug(collection_id, slug, cms_locale_id=locale)
            if lookup is not None:
                found[slug] = lookup
        return found

    def _settle_unknown(
        self,
        collection_id: str,
        route: _CreateRoute,
        batch: Sequence[_Pending],
        results: list[ItemResult | None],
        exc: WebflowError,
        *,
        reraise: bool = False,
    ) -> None:
        """Retries are exhausted: report items that exist as created, the rest as failed."""
        candidates = [p for p in batch if p.maybe_ours and p.item.slug]
        slugs = [p.item.slug for p in candidates if p.item.slug]
        found = self._find_by_slugs(collection_id, route, slugs, required=set(slugs))
        for p in batch:
            item = found.get(p.item.slug or "") if p.maybe_ours else None
            if item is not None and _same_item(p.item, item):
                self._created(results, p, item)
            elif not reraise:
                self._failed(results, p, _error_info(exc))

    # ------------------------------------------------------------------ items: update, publish, delete
    def update_items(
        self, collection_id: str, updates: Sequence[ItemUpdate], *, live: bool = False
    ) -> list[ItemResult]:
        """PATCH items in requests of at most 100; one result per input, in input order.

        Webflow applies a PATCH all or nothing. A 400, 404 or 409 is pinned on the items it names
        (their id, or their index in the body); when it names none, the batch is halved and the
        halves sent again (a PATCH is idempotent) until each refused item stands alone. So a live
        update of items never published (409) fails those items alone, with code "conflict", and
        applies the others; it costs about 2*log2(n) extra requests per such item.

        Raises:
            WebflowError: on a failure that is not about particular items (auth, unknown collection,
                retries exhausted); its ``partial_results`` hold the items settled before it.
        """
        results: list[ItemResult | None] = [None] * len(updates)
        path = self._items_path(collection_id, live)
        indexed = list(enumerate(updates))
        with _reporting_partial(results):
            for chunk in _chunks(indexed):
                work: list[list[tuple[int, ItemUpdate]]] = [list(chunk)]
                while work:
                    batch = work.pop(0)
                    body = {"items": [update.to_api() for _, update in batch]}
                    try:
                        response = self._request("PATCH", path, json=body)
                    except (BadRequestError, NotFoundError, ConflictError) as exc:
                        work[:0] = _attribute_update_error(batch, exc, results)
                        continue
                    self._record_updated(batch, response, results)
        return [r for r in results if r is not None]

    @staticmethod
    def _record_updated(
        batch: Sequence[tuple[int, ItemUpdate]],
        response: httpx.Response,
        results: list[ItemResult | None],
    ) -> None:
        """Map a 2xx PATCH answer back to the batch's items."""
        raw = _json_object(response).get("items") or []
        returned = {doc.get("id"): doc for doc in raw if isinstance(doc, dict)}
        for position, (index, update) in enumerate(batch):
            doc = returned.get(update.id)
            if doc is None and position < len(raw) and len(raw) == len(batch):
                doc = raw[position]
            item = _parse(Item, doc, response) if isinstance(doc, dict) else None
            results[index] = ItemResult(index=index, status="updated", item=item)

    def publish_items(
        self,
        collection_id: str,
        item_ids: Sequence[str | ItemPublish],
        *,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> PublishResult:
        """Publish items in requests of at most 100; answers merged.

        An item is an id, published in ``cms_locale_ids`` (else the primary locale), or an
        ItemPublish with locales of its own: items with locales share requests whatever their
        sets (``{"items": [{id, cmsLocaleIds}]}``), items without go as ``{"itemIds": [...]}``.
        """
        default_locales = list(cms_locale_ids) if cms_locale_ids else None
        targets = [
            target
            if isinstance(target, ItemPublish)
            else ItemPublish(id=target, cms_locale_ids=default_locales)
            for target in item_ids
        ]
        plain = [target.id for target in targets if not target.cms_locale_ids]
        localized = [target for target in targets if target.cms_locale_ids]
        bodies: list[dict[str, Any]] = [{"itemIds": list(chunk)} for chunk in _chunks(plain)]
        bodies += [
            {"items": [target.model_dump(by_alias=True) for target in chunk]}
            for chunk in _chunks(localized)
        ]
        merged = PublishResult()
        for body in bodies:
            path = api_path("collections/{}/items/publish", collection=collection_id)
            response = self._request("POST", path, json=body)
            answer = _parse(PublishResult, _json_object(response), response)
            merged.published_item_ids.extend(answer.published_item_ids)
            merged.errors.extend(answer.errors)
        return merged

    def unpublish_items(
        self,
        collection_id: str,
        item_ids: Sequence[str],
        *,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> None:
        """DELETE .../items/live: take items off the live site (chunked)."""
        self._delete_targets(
            api_path("collections/{}/items/live", collection=collection_id),
            item_ids,
            cms_locale_ids,
        )

    def delete_items(
        self,
        collection_id: str,
        item_ids: Sequence[str],
        *,
        live: bool = False,
        cms_locale_ids: Sequence[str] | None = None,
    ) -> None:
        """DELETE .../items (chunked); with ``live`` the items are unpublished first."""
        if live:
            self.unpublish_items(collection_id, item_ids, cms_locale_ids=cms_locale_ids)
        self._delete_targets(
            api_path("collections/{}/items", collection=collection_id), item_ids, cms_locale_ids
        )

    def _delete_targets(
        self, path: str, item_ids: Sequence[str], cms_locale_ids: Sequence[str] | None
    ) -> None:
        for chunk in _chunks(list(item_ids)):
            targets: list[dict[str, Any]] = []
            for item_id in chunk:
                target: dict[str, Any] = {"id": item_id}
                if cms_locale_ids:
                    target["cmsLocaleIds"] = list(cms_locale_ids)
                targets.append(target)
            self._request("DELETE", path, json={"items": targets}, gone_after_retry_ok=True)

    def publish_site(
        self,
        site_id: str,
        *,
        custom_domains: Sequence[str] | None = None,
        publish_to_webflow_subdomain: bool = True,
    ) -> dict[str, Any]:
        """POST /sites/{site_id}/publish (Webflow allows one per minute)."""
        body: dict[str, Any] = {"publishToWebflowSubdomain": publish_to_webflow_subdomain}
        if custom_domains:
            body["customDomains"] = list(custom_domains)
        response = self._request("POST", api_path("sites/{}/publish", site=site_id), json=body)
        return _json_object(response)

    # ------------------------------------------------------------------ assets
    def create_asset(
        self,
        site_id: str,
        file_name: str,
        file_hash_md5_hex: str,
        *,
        parent_folder: str | None = None,
    ) -> AssetUpload:
        """Step 1 of an upload: register the asset and get the presigned upload target."""
        body: dict[str, Any] = {"fileName": file_name, "fileHash": file_hash_md5_hex}
        if parent_folder:
            body["parentFolder"] = parent_folder
        response = self._request("POST", api_path("sites/{}/assets", site=site_id), json=body)
        return _parse(AssetUpload, _json_object(response), response)

    def upload_to_presigned(
        self, upload: AssetUpload, stream: BinaryIO, size: int, content_type: str
    ) -> None:
        """Step 2: multipart POST of the bytes to ``upload.upload_url`` (no credentials sent).

        The fields go in the order given, the file last, streamed in 64 KiB pieces with an exact
        Content-Length. A seekable stream is rewound and sent again after a transient failure.
        """
        file_name = upload.file_name or upload.upload_details.get("key", "file").rsplit("/", 1)[-1]
        start = stream.tell() if _seekable(stream) else None
        budget = self._budget()
        while True:
            body = multipart_body(upload.upload_details, file_name, stream, size, content_type)
            try:
                response = self.upload_http.post(
                    upload.upload_url,
                    content=iter(body),
                    headers={
                        "Content-Type": body.content_type,
                        "Content-Length": str(body.content_length),
                    },
                )
            except httpx.TransportError as exc:
                failure = _transport_error("Upload", exc)
                cause: Exception = exc
            else:
                if response.is_success:
                    return
                failure = _s3_error(response)
                cause = failure
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
            delay = budget.next_delay(getattr(failure, "retry_after", None))
            if delay is None or start is None:
                if cause is failure:
                    raise failure
                raise failure from cause
            logger.warning(
                "retrying asset upload", extra={"failure": str(failure), "retry": budget.retries}
            )
            self._sleep(delay)
            stream.seek(start)

    def upload_asset(
        self,
        site_id: str,
        file_name: str,
        stream: BinaryIO,
        size: int,
        md5_hex: str,
        content_type: str,
        *,
        parent_folder: str | None = None,
    ) -> Asset:
        """Create the asset, upload its bytes and return it as Webflow now describes it."""
        upload = self.create_asset(site_id, file_name, md5_hex, parent_folder=parent_folder)
        self.upload_to_presigned(upload, stream, size, content_type)
        return self.get_asset(upload.id)

    def get_asset(self, asset_id: str) -> Asset:
        """GET /assets/{asset_id}."""
        response = self._get(api_path("assets/{}", asset=asset_id))
        return _parse(Asset, _json_object(response), response)

    def list_assets(self, site_id: str) -> list[Asset]:
        """Every asset of the site (all pages)."""
        assets: list[Asset] = []
        offset = 0
        while True:
            response = self._get(
                api_path("sites/{}/assets", site=site_id),
                {"offset": offset, "limit": MAX_ITEMS_PER_REQUEST},
            )
            offset += MAX_ITEMS_PER_REQUEST
            body = _json_object(response)
            page = _parse(_AssetList, body, response).assets
            assets.extend(page)
            total = (body.get("pagination") or {}).get("total")
            if len(page) < MAX_ITEMS_PER_REQUEST or (total is not None and len(assets) >= total):
                return assets

    def update_asset(self, asset_id: str, **fields: Any) -> Asset:
        """PATCH /assets/{asset_id} (snake_case keywords become camelCase, e.g. alt_text)."""
        body = {_camel(key): value for key, value in fields.items()}
        response = self._request("PATCH", api_path("assets/{}", asset=asset_id), json=body)
        return _parse(Asset, _json_object(response), response)

    def delete_asset(self, asset_id: str) -> None:
        """DELETE /assets/{asset_id}."""
        self._request("DELETE", api_path("assets/{}", asset=asset_id), gone_after_retry_ok=True)

    # ------------------------------------------------------------------ webhooks
    def list_webhooks(self, site_id: str) -> list[dict[str, Any]]:
        """GET /sites/{site_id}/webhooks."""
        response = self._get(api_path("sites/{}/webhooks", site=site_id))
        hooks = _json_object(response).get("webhooks") or []
        return [hook for hook in hooks if isinstance(hook, dict)]

    def create_webhook(
        self, site_id: str, trigger_type: str, url: str, filter: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST /sites/{site_id}/webhooks; the answer holds the webhook's secretKey."""
        body: dict[str, Any] = {"triggerType": trigger_type, "url": url}
        if filter:
            body["filter"] = dict(filter)
        budget = self._budget()
        while True:
            try:
                response = self._request(
                    "POST",
                    api_path("sites/{}/webhooks", site=site_id),
                    json=body,
                    idempotent=False,
                    budget=budget,
                )
                break
            except _AmbiguousWrite as exc:
                # A second webhook would deliver every event twice: look before sending again.
                for hook in self.list_webhooks(site_id):
                    if hook.get("triggerType") == trigger_type and hook.get("url") == url:
                        return hook
                delay = budget.next_delay()
                if delay is None:
                    raise exc.cause from exc
                self._sleep(delay)
        answer = _json_object(response)
        if isinstance(answer.get("secretKey"), str):
            add_secret(answer["secretKey"])
        return answer


def _halves(batch: list[T]) -> list[list[T]]:
    """Split a batch in two (a single element stays whole)."""
    if len(batch) <= 1:
        return [batch] if batch else []
    middle = len(batch) // 2
    return [batch[:middle], batch[middle:]]


_FIELD_PARAM = re.compile(
    r"^(?:items\s*[\[.]\d+[\].]?\.?)?(?:fieldData[.\[])?(?P<field>[A-Za-z0-9_-]+)"
)


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _suspects(detail: Mapping[str, Any], batch: Sequence[_Pending]) -> list[_Pending]:
    """Items of ``batch`` that could have caused a validation detail (all of them when unsure).

    A "required" error can only come from an item without a value for the field, any other error
    only from an item with one; this only orders the search, so a wrong guess costs a request.
    """
    param = detail.get("param")
    match = _FIELD_PARAM.match(param) if isinstance(param, str) else None
    if match is None or match.group("field") in ("items", "fieldData"):
        return list(batch)
    name = match.group("field")
    description = str(detail.get("description") or detail.get("message") or "").lower()
    if "required" in description:
        chosen = [p for p in batch if _blank(p.item.field_data.get(name))]
    else:
        chosen = [p for p in batch if not _blank(p.item.field_data.get(name))]
    return chosen or list(batch)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _same_item(sent: NewItem, existing: Item) -> bool:
    """True when an existing item plausibly is the one we sent (same slug and name)."""
    name = sent.field_data.get("name")
    return existing.slug == sent.slug and (name is None or existing.name == name)


def _attribute_update_error(
    batch: list[tuple[int, ItemUpdate]],
    exc: WebflowAPIError,
    results: list[ItemResult | None],
) -> list[list[tuple[int, ItemUpdate]]]:
    """Attribute a 400/404/409 of an update batch to its items; return batches still to send."""
    status: Literal["not_found", "failed"] = (
        "not_found" if isinstance(exc, NotFoundError) else "failed"
    )
    flagged: dict[int, list[dict[str, Any]]] = {}
    for detail in exc.details:
        position = _detail_index(detail)
        if position is not None and 0 <= position < len(batch):
            flagged.setdefault(position, []).append(detail)
            continue
        text = jsonlib.dumps(detail)
        for pos, (_, update) in enumerate(batch):
            if update.id and update.id in text:
                flagged.setdefault(pos, []).append(detail)
    if not flagged and len(batch) > 1:
        # A refusal without details may name its item in the message (the sandbox's 409 does).
        named = [
            pos for pos, (_, update) in enumerate(batch) if update.id and update.id in exc.message
        ]
        flagged = {pos: [] for pos in named} if len(named) == 1 else {}
    if flagged:
        for pos, details in flagged.items():
            index = batch[pos][0]
            info = _error_info(exc).model_copy(update={"details": details or exc.details})
            results[index] = ItemResult(index=index, status=status, error=info)
        rest = [entry for pos, entry in enumerate(batch) if pos not in flagged]
        return [rest] if rest else []
    if len(batch) == 1:
        index = batch[0][0]
        results[index] = ItemResult(index=index, status=status, error=_error_info(exc))
        return []
    return _halves(batch)


@contextlib.contextmanager
def _reporting_partial(results: Sequence[ItemResult | None]) -> Iterator[None]:
    """Attach the results settled so far to a WebflowError leaving the block."""
    try:
        yield
    except WebflowError as exc:
        exc.partial_results = [result for result in results if result is not None]
        raise


class _ClientCache:
    """One client per token, base URL and options in the process; ``get_client`` is its instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, tuple[tuple[str, Any], ...]], WebflowClient] = {}

    def __call__(self, settings: WebflowSettings, **options: Any) -> WebflowClient:
        """The process-wide client for the settings' token, base URL and ``options`` (created once).

        ``options`` are WebflowClient keywords (e.g. a shorter retry budget); clients of one token
        share its limiter whatever their options.
        """
        token = settings.webflow_api_token.get_secret_value()
        key = (
            hashlib.sha256(token.encode()).hexdigest(),
            settings.webflow_api_base_url,
            tuple(sorted(options.items())),
        )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = WebflowClient.from_settings(settings, **options)
            return client

    def cache_clear(self) -> None:
        """Close and forget every cached client (tests, configuration changes)."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


get_client = _ClientCache()
