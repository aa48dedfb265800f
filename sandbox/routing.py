"""Request/response types and the route table shared by every endpoint module."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .errors import ApiError, validation_error

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message: case-insensitive get()
    body: bytes
    token: Any = None  # store.Token once authenticated

    @classmethod
    def build(cls, method: str, target: str, headers: Any, body: bytes) -> Request:
        """Split the request target into path and query."""
        path, _, query = target.partition("?")
        return cls(method, path, parse_qs(query, keep_blank_values=True), headers, body)

    def json(self) -> Any:
        """Decode the body as JSON, answering 400 bad_request when it is not."""
        if not self.body:
            raise ApiError(400, "bad_request", "Bad Request: Request body is required")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "bad_request", f"Bad Request: Request is malformed ({exc})"
            ) from exc

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def int_arg(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        """An integer query parameter: 400 validation_error if malformed or below ``minimum``."""
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise validation_error([{"param": name, "description": "Must be an integer"}]) from None
        if value < minimum:
            raise validation_error(
                [{"param": name, "description": f"Must be greater than or equal to {minimum}"}]
            )
        return min(value, maximum) if maximum is not None else value

    def bool_arg(self, name: str, default: bool) -> bool:
        """A boolean query parameter (``true``/``false``)."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise validation_error([{"param": name, "description": "Must be a boolean"}])


@dataclass
class Response:
    """An answer: status, body bytes, headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = JSON_TYPE

    @classmethod
    def json(cls, status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON answer."""
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, body, dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        """An answer without a body."""
        return cls(status, b"", {}, None)


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """A path template bound to a handler.

    ``kind`` is "api" (authenticated /v2 call), "control", "s3" or "hosted".
    ``scope`` is the token scope the call needs.
    """

    method: str
    template: str
    handler: Handler
    kind: str = "api"
    scope: str | None = None
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def write(self) -> bool:
        """True for a call that changes data (POST, PATCH, DELETE): dropAfterWrite applies."""
        return self.method != "GET"

    @property
    def name(self) -> str:
        """The route as statistics name it, e.g. ``GET /v2/sites/{site_id}``."""
        return f"{self.method} {self.template}"


class Router:
    """Ordered route table; the first matching template wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_prefix: dict[str, list[Route]] = {}

    def add(self, route: Route) -> None:
        """Register a route."""
        self.routes.append(route)
        self._by_prefix.setdefault(_prefix(route.template), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return ``(route, path params, path_known)`` for a request."""
        path_known = False
        for route in self._by_prefix.get(_prefix(path), ()):
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), True
            path_known = True
        return None, {}, path_known


def _prefix(path: str) -> str:
    """The first path segment ("/v2", "/_sandbox", ...), to keep matching short."""
    return path[: path.find("/", 1)] if path.count("/") > 1 else path
