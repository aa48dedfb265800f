"""Which of Webflow's failures are transient: the one classification every writer uses.

The drain, sync, upload-asset and publishing all ask :func:`is_transient`. Transient means "try
again later, nothing is wrong with what was sent": a 5xx, a 408 or 429, a timeout, a dropped
connection, a create whose answer was lost, and a refusal of the function's own token (401/403:
an operator fixes the token, the submission needs nothing). Only what Webflow documents as the
caller's fault is permanent: a 400 naming a field, a 404 of a collection or item that does not
exist, a 409 that a retry cannot resolve, and the checks made before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import WebflowAPIError, WebflowConnectionError, WebflowError

if TYPE_CHECKING:
    from shared.models import ErrorInfo

__all__ = ["TRANSIENT_CODES", "is_transient", "is_transient_status"]

# Codes of per-item failures (and of problems built from whole-request failures) that carry no
# status of their own but say "the outcome was not Webflow's verdict on the item".
TRANSIENT_CODES = frozenset(
    {
        "connection_error",
        "timeout",
        "outcome_unknown",
        "not_created",
        "missing_in_response",
        "upstream_unavailable",
        "upstream_not_authorized",
        "rate_limited",
        "too_many_requests",
        "internal_error",
        "service_unavailable",
        "storage_unavailable",
    }
)


def is_transient_status(status_code: int) -> bool:
    """True for the statuses that say nothing about the request's content."""
    return status_code in (401, 403, 408, 429) or status_code >= 500


def is_transient(failure: WebflowError | ErrorInfo | None) -> bool:
    """True when ``failure`` (a client error or a per-item error) is worth trying again later."""
    if failure is None:
        return False
    if isinstance(failure, WebflowAPIError):
        return is_transient_status(failure.status_code)
    if isinstance(failure, WebflowConnectionError):
        return True
    if isinstance(failure, WebflowError):
        # Any other client error (a lost answer wrapped for the caller) is not a verdict either.
        cause = getattr(failure, "cause", None)
        return cause is None or is_transient(cause)
    if failure.status_code is not None:
        return is_transient_status(failure.status_code)
    return failure.code in TRANSIENT_CODES
