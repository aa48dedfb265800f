"""The Webflow Data API v2 client: paced, retried, chunked, and safe against duplicate creates.

How a call travels:

- Pacing: every request takes a slot from the token's process-wide sliding-minute limiter
  (shared/webflow/pacing.py). A wait longer than the retry budget (or ``max_pacing_wait`` when set) is
  answered with RateLimitError (retry_after set) instead of blocking past the function's timeout.
- Deadline: inside ``with deadline(seconds):`` no pacing wait or retry goes past that moment,
  so a run bounded in time stops cleanly instead of being killed.
- Retries: connection errors, timeouts, 408, 429 and 5xx are retried with capped exponential
  backoff and jitter, or after Retry-After when it fits; the whole sequence is bounded by
  ``max_retries`` and ``max_retry_seconds`` (shared/webflow/retry.py). Then the typed error is raised.
- Errors: every failure leaves as a shared/webflow/errors.py class, with Webflow's code, message, details
  and request id intact.
- Creates are not idempotent. A create whose outcome is unknown (read timeout, connection dropped
  after sending, 5xx) is sent again; slugs are unique per collection, so a duplicate-slug refusal
  of an item from that unknown send means the first send created it: the client then fetches the
  newest items and reports it "created". Nothing is ever sent twice successfully. A slug that
  already existed is reported per item as failed with code "duplicate_slug".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_surface

if TYPE_CHECKING:
    from shared.webflow.client import WebflowClient, get_client
    from shared.webflow.errors import (
        AuthenticationError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        WebflowAPIError,
        WebflowConnectionError,
        WebflowError,
    )
    from shared.webflow.failures import CREDENTIAL_CODES, TRANSIENT_CODES, is_refusal, is_transient
    from shared.webflow.models import (
        WEBFLOW_ID_PATTERN,
        Asset,
        AssetUpload,
        Collection,
        ErrorInfo,
        Field,
        Item,
        ItemPublish,
        ItemResult,
        ItemUpdate,
        NewItem,
        WebflowId,
    )
    from shared.webflow.multipart import multipart_body
    from shared.webflow.secrets import announce, subscribe
    from shared.webflow.settings import WebflowSettings
    from shared.webflow.slugs import SlugHolders
    from shared.webflow.tls import tls_context
    from shared.webflow.transport import (
        DEFAULT_BASE_URL,
        MAX_ITEMS_PER_REQUEST,
        Transport,
        api_path,
        deadline,
    )

__all__ = [
    "CREDENTIAL_CODES",
    "DEFAULT_BASE_URL",
    "MAX_ITEMS_PER_REQUEST",
    "TRANSIENT_CODES",
    "WEBFLOW_ID_PATTERN",
    "Asset",
    "AssetUpload",
    "AuthenticationError",
    "Collection",
    "ErrorInfo",
    "Field",
    "Item",
    "ItemPublish",
    "ItemResult",
    "ItemUpdate",
    "NewItem",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SlugHolders",
    "Transport",
    "WebflowAPIError",
    "WebflowClient",
    "WebflowConnectionError",
    "WebflowError",
    "WebflowId",
    "WebflowSettings",
    "announce",
    "api_path",
    "deadline",
    "get_client",
    "is_refusal",
    "is_transient",
    "multipart_body",
    "subscribe",
    "tls_context",
]

__getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "Asset": "models",
        "AssetUpload": "models",
        "AuthenticationError": "errors",
        "CREDENTIAL_CODES": "failures",
        "Collection": "models",
        "DEFAULT_BASE_URL": "transport",
        "ErrorInfo": "models",
        "Field": "models",
        "Item": "models",
        "ItemPublish": "models",
        "ItemResult": "models",
        "ItemUpdate": "models",
        "MAX_ITEMS_PER_REQUEST": "transport",
        "NewItem": "models",
        "NotFoundError": "errors",
        "PermissionDeniedError": "errors",
        "RateLimitError": "errors",
        "SlugHolders": "slugs",
        "TRANSIENT_CODES": "failures",
        "Transport": "transport",
        "WEBFLOW_ID_PATTERN": "models",
        "WebflowAPIError": "errors",
        "WebflowClient": "client",
        "WebflowConnectionError": "errors",
        "WebflowError": "errors",
        "WebflowId": "models",
        "WebflowSettings": "settings",
        "announce": "secrets",
        "api_path": "transport",
        "deadline": "transport",
        "get_client": "client",
        "is_refusal": "failures",
        "is_transient": "failures",
        "multipart_body": "multipart",
        "subscribe": "secrets",
        "tls_context": "tls",
    },
)
