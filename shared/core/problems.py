"""What the domain says went wrong, free of the web layer: problems with a code, a message and
details naming the fields at fault, and the failures of Webflow said in the same terms.

The domain (fields, items, updates, publishing, webhooks, oidc, forms) raises these; shared/web/http.py
alone turns them into HTTP answers (its table gives each kind its status), and a function that is
not HTTP (a storage event, a queue drain) reads the same kinds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from shared.webflow.errors import WebflowAPIError, WebflowConnectionError, WebflowError
from shared.webflow.models import WEBFLOW_ID_PATTERN

__all__ = [
    "DEFAULT_RETRY_AFTER_SECONDS",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotAuthenticated",
    "Problem",
    "TooManyRequests",
    "Unavailable",
    "Unprocessable",
    "UpstreamRefused",
    "field_path",
    "upstream_problem",
    "validation_details",
    "webflow_details",
    "whole_seconds",
]

DEFAULT_RETRY_AFTER_SECONDS = 30
# "items[3].fieldData.email" -> "email": the item is known from the result's index.
_WEBFLOW_PARAM_PREFIX = re.compile(r"^(?:items\[\d+\]\.)?(?:fieldData[./])?")


class Problem(Exception):
    """A refusal or failure the caller should hear about: a code, a message, field details."""

    def __init__(
        self,
        code: str,
        message: str,
        details: Sequence[Mapping[str, Any]] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: list[dict[str, Any]] = [dict(detail) for detail in details or []]
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class InvalidInput(Problem):
    """The input is malformed or a value is invalid; the details name the fields."""


class NotAuthenticated(Problem):
    """The caller's credentials are missing or not valid (``realm``: who asks for them)."""

    def __init__(
        self,
        code: str,
        message: str,
        details: Sequence[Mapping[str, Any]] | None = None,
        *,
        realm: str | None = None,
    ) -> None:
        super().__init__(code, message, details)
        self.realm = realm


class Forbidden(Problem):
    """The caller is known but may not do this."""


class Conflict(Problem):
    """The request clashes with the state of the resource."""


class Unprocessable(Problem):
    """Well-formed, but refused: by Webflow, or naming something that does not exist."""


class UpstreamRefused(Problem):
    """Webflow refused the function's own credentials: nothing the caller can fix."""


class Unavailable(Problem):
    """Something this depends on is rate limited or down; try again after ``retry_after``."""


class TooManyRequests(Problem):
    """The caller sends faster than it may; it may send again after ``retry_after``."""


MAX_RETRY_AFTER_SECONDS = 3600


def whole_seconds(seconds: float | None) -> str:
    """A wait as Retry-After says it: whole seconds, at least 1, at most an hour; 30 unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return str(DEFAULT_RETRY_AFTER_SECONDS)
    return str(min(MAX_RETRY_AFTER_SECONDS, math.ceil(seconds)))


def upstream_problem(exc: WebflowError) -> Problem:
    """A Webflow failure said as a problem of this function's caller."""
    if isinstance(exc, WebflowConnectionError):
        return Unavailable(
            "upstream_unavailable",
            "Webflow could not be reached; retry later",
            retry_after=DEFAULT_RETRY_AFTER_SECONDS,
        )
    if not isinstance(exc, WebflowAPIError):
        return Unavailable("upstream_unavailable", str(exc), retry_after=None)
    status = exc.status_code
    if status == 429 or status >= 500:
        retry = exc.retry_after
        usable = retry is not None and math.isfinite(retry) and retry > 0
        return Unavailable(
            "upstream_unavailable",
            "Webflow is rate limiting or unavailable; retry later",
            retry_after=retry if usable else DEFAULT_RETRY_AFTER_SECONDS,
        )
    if status in (401, 403):
        # Our own token was refused: the caller cannot fix that, so it is not a 4xx for them.
        return UpstreamRefused(
            "upstream_not_authorized", "The function's Webflow token was refused"
        )
    details = webflow_details(exc.details)
    message = f"Webflow rejected the request: {exc.message}"
    if status == 400 and exc.code != "validation_error":
        return InvalidInput(exc.code or "bad_request", message, details)
    return Unprocessable(exc.code or "unprocessable", message, details)


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
