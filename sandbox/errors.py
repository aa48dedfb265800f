"""The error every request handler raises, rendered as a Webflow error body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answered as ``{code, message, externalReference, details}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Webflow answers for this error."""
        return {
            "code": self.code,
            "message": self.message,
            "externalReference": None,
            "details": self.details,
        }


def validation_error(details: list[dict[str, str]], message: str = "Validation Error") -> ApiError:
    """Build a 400 ``validation_error`` carrying ``[{param, description}]`` details."""
    return ApiError(400, "validation_error", message, details)


def not_found(code: str = "resource_not_found", what: str = "Requested resource") -> ApiError:
    """Build a 404 in Webflow's wording."""
    return ApiError(404, code, f"{what} not found")
