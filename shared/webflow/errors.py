"""The one exception family of the Webflow client."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.webflow.models import ItemResult

__all__ = [
    "DUPLICATE_SLUG_PATTERN",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidIdError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "WebflowAPIError",
    "WebflowConnectionError",
    "WebflowError",
    "WebflowTimeoutError",
    "duplicate_slug_of",
    "error_for_status",
]

DUPLICATE_SLUG_PATTERN = re.compile(r"Unique value is already in database:\s*'(?P<slug>[^']*)'")


def duplicate_slug_of(detail: Any) -> str | None:
    """Return the slug named by one 'Unique value is already in database' detail, else None."""
    if not isinstance(detail, dict):
        return None
    param = detail.get("param")
    if param not in (None, "slug") and not str(param).endswith("slug"):
        return None
    for key in ("description", "message", "msg"):
        text = detail.get(key)
        if isinstance(text, str):
            match = DUPLICATE_SLUG_PATTERN.search(text)
            if match:
                return match.group("slug")
    return None


class WebflowError(Exception):
    """Base of every error raised by the Webflow client.

    A multi-item call (create_items, update_items) that fails part-way sets ``partial_results``
    to the outcomes of the items it had settled before the failure, so that nothing it wrote goes
    unreported; it is empty for every other failure.
    """

    message: str
    partial_results: list[ItemResult]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.partial_results = []


class WebflowAPIError(WebflowError):
    """Webflow answered with an error status."""

    status_code: int
    code: str
    details: list[dict[str, Any]]
    request_id: str | None
    retry_after: float | None

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str | None,
        details: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        *,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = code or _default_code(status_code)
        self.details = list(details or [])
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body
        super().__init__(message or f"Webflow answered {status_code}")

    def __str__(self) -> str:
        text = f"{self.status_code} {self.code}: {self.message}"
        if self.details:
            text += f" details={self.details!r}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    @property
    def duplicate_slugs(self) -> list[str]:
        """Slugs named by 'Unique value is already in database' details, in order."""
        slugs = [duplicate_slug_of(detail) for detail in self.details]
        return [slug for slug in slugs if slug is not None]

    @property
    def is_duplicate_slug(self) -> bool:
        """True when the error is (at least partly) a duplicate slug."""
        return self.status_code == 400 and bool(self.duplicate_slugs)

    @property
    def is_validation_error(self) -> bool:
        """True for a 400 validation_error."""
        return self.status_code == 400 and self.code == "validation_error"


class BadRequestError(WebflowAPIError):
    """400: bad_request or validation_error."""


class AuthenticationError(WebflowAPIError):
    """401: the token is missing, unknown or revoked."""


class PermissionDeniedError(WebflowAPIError):
    """403: the token lacks a scope or the resource belongs to another site."""


class NotFoundError(WebflowAPIError):
    """404: the resource does not exist."""


class InvalidIdError(NotFoundError):
    """An id that is not a Webflow id (24 lowercase hex digits): it names nothing, and nothing is
    sent, so that a value such as ``../sites/x`` can never reach another endpoint."""

    def __init__(self, what: str) -> None:
        super().__init__(
            404,
            "invalid_id",
            f"The {what} id is not a Webflow id (24 lowercase hexadecimal digits)",
            [{"param": what, "description": "is not a Webflow id"}],
        )


class ConflictError(WebflowAPIError):
    """409: e.g. a live update of an item that was never published."""


class RateLimitError(WebflowAPIError):
    """429: too many requests; ``retry_after`` says when to come back."""


class InternalServerError(WebflowAPIError):
    """5xx: Webflow failed or is unavailable."""


class WebflowConnectionError(WebflowError):
    """The request could not be completed (connection refused, reset or dropped)."""

    def __init__(self, message: str = "Connection to Webflow failed") -> None:
        super().__init__(message)


class WebflowTimeoutError(WebflowConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "Request to Webflow timed out") -> None:
        super().__init__(message)


_BY_STATUS: dict[int, type[WebflowAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}

_DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authorized",
    403: "forbidden",
    404: "resource_not_found",
    409: "conflict",
    429: "too_many_requests",
}


def _default_code(status_code: int) -> str:
    if status_code >= 500:
        return "internal_error"
    return _DEFAULT_CODES.get(status_code, f"http_{status_code}")


def error_for_status(
    status_code: int,
    code: str | None,
    message: str | None,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    *,
    body: Any = None,
) -> WebflowAPIError:
    """Build the WebflowAPIError subclass that matches ``status_code``."""
    if status_code >= 500:
        cls: type[WebflowAPIError] = InternalServerError
    else:
        cls = _BY_STATUS.get(status_code, WebflowAPIError)
    return cls(status_code, code, message, details, request_id, retry_after, body=body)
