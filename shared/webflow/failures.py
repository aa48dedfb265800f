"""Which of Webflow's failures are transient: the one classification every writer uses.

The drain, sync, upload-asset and publishing all ask these questions of a failure (a client error
or a per-item error):

- :func:`is_transient`: try again later, nothing is wrong with what was sent. A 5xx, a 408 or
  429, a timeout, a dropped connection, a create whose answer was lost.
- :func:`is_refusal`: Webflow's verdict on what was sent, which a retry cannot change. A 400
  naming a field, a 404 of a collection or item that does not exist, a 409 a retry cannot
  resolve, and the checks made before anything is sent.

A refusal of the function's own token (401/403) is neither: an operator mends the token, and
what was sent needs nothing. A queue keeps such work pending; a caller hears about the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.webflow.errors import WebflowAPIError, WebflowError

if TYPE_CHECKING:
    from shared.webflow.models import ErrorInfo

__all__ = ["CREDENTIAL_CODES", "TRANSIENT_CODES", "is_refusal", "is_transient"]

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
        "rate_limited",
        "too_many_requests",
        "internal_error",
        "service_unavailable",
        "storage_unavailable",
    }
)
# Codes that say the function's own credentials were refused.
CREDENTIAL_CODES = frozenset({"upstream_not_authorized", "not_authorized", "missing_scopes"})


def _status(failure: WebflowError | ErrorInfo) -> int | None:
    """The HTTP status Webflow answered with; None for a failure that had no answer."""
    if isinstance(failure, WebflowAPIError):
        return failure.status_code
    if isinstance(failure, WebflowError):
        return None
    return failure.status_code


def is_transient(failure: WebflowError | ErrorInfo | None) -> bool:
    """True when ``failure`` is worth trying again later, unchanged."""
    if failure is None:
        return False
    status = _status(failure)
    if status is not None:
        return status in (408, 429) or status >= 500
    # No answer (a transport failure, a lost answer wrapped for the caller): not a verdict; a
    # per-item failure without a status says by its code.
    return isinstance(failure, WebflowError) or failure.code in TRANSIENT_CODES


def _credentials(failure: WebflowError | ErrorInfo) -> bool:
    status = _status(failure)
    if status is not None:
        return status in (401, 403)
    return not isinstance(failure, WebflowError) and failure.code in CREDENTIAL_CODES


def is_refusal(failure: WebflowError | ErrorInfo | None) -> bool:
    """True when ``failure`` is Webflow's verdict on what was sent (for good: retrying the same
    request can only be refused again); False for transient failures and refused credentials."""
    if failure is None:
        return False
    return not is_transient(failure) and not _credentials(failure)
