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

from shared.webflow.client import WebflowClient, get_client
from shared.webflow.multipart import multipart_body
from shared.webflow.transport import (
    DEFAULT_BASE_URL,
    MAX_ITEMS_PER_REQUEST,
    Transport,
    api_path,
    deadline,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ITEMS_PER_REQUEST",
    "Transport",
    "WebflowClient",
    "api_path",
    "deadline",
    "get_client",
    "multipart_body",
]
