"""A small in-process fake of Webflow's items endpoints for unit tests of the client (httpx.MockTransport)."""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx


@dataclass
class FakeWebflow:
    """Stateful fake: items per slug, all-or-nothing creates, scripted faults."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: deque[str] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)
    headers: dict[str, str] = field(
        default_factory=lambda: {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "999"}
    )
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def routes(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def add(self, name: str, slug: str) -> dict[str, Any]:
        """Put an item in place as if someone created it earlier."""
        item = {
            "id": f"{next(self._ids):024x}",
            "createdOn": f"2026-01-01T00:00:{next(self._clock):02d}.000Z",
            "isDraft": False,
            "isArchived": False,
            "fieldData": {"name": name, "slug": slug},
        }
        self.items[slug] = item
        return item

    def _json(self, status: int, body: Any, extra: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(status, json=body, headers={**self.headers, **(extra or {})})

    def _error(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> httpx.Response:
        body = {
            "code": code,
            "message": message,
            "externalReference": None,
            "details": details or [],
        }
        return self._json(status, body, {"x-request-id": "req-fake"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.popleft() if self.faults else None
        if fault == "500":
            return self._error(500, "internal_error", "An Internal Error occurred")
        if fault == "503":
            return httpx.Response(503, text="upstream unavailable")
        if fault == "429":
            return httpx.Response(
                429,
                json={"code": "too_many_requests", "message": "Too Many Requests", "details": []},
                headers={
                    "retry-after": "2",
                    "x-ratelimit-limit": "1000",
                    "x-ratelimit-remaining": "999",
                },
            )
        if fault == "connect":
            raise httpx.ConnectError("refused", request=request)
        if fault == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/items"):
            response = self._create(json.loads(request.content))
        elif request.method == "GET" and path.endswith("/items"):
            response = self._list(parse_qs(request.url.query.decode()))
        else:
            response = self._error(404, "resource_not_found", "Not found")
        if fault == "502-after-write":
            return httpx.Response(502, text="bad gateway")
        if fault == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return response

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        entries = body["items"]
        details = []
        seen = set()
        for entry in entries:
            data = entry["fieldData"]
            if not data.get("name"):
                details.append({"param": "name", "description": "Field is required"})
            slug = data.get("slug")
            if slug in self.items or slug in seen:
                details.append(
                    {
                        "param": "slug",
                        "description": f"Unique value is already in database: '{slug}'",
                    }
                )
            seen.add(slug)
        if details:
            return self._error(400, "validation_error", "Validation Error", details)
        created = [
            self.add(entry["fieldData"]["name"], entry["fieldData"]["slug"]) for entry in entries
        ]
        for item, entry in zip(created, entries, strict=True):
            item["fieldData"] = dict(entry["fieldData"])
        return self._json(202, {"items": created})

    def _list(self, query: dict[str, list[str]]) -> httpx.Response:
        items = list(self.items.values())
        if "slug" in query:
            items = [i for i in items if i["fieldData"]["slug"] == query["slug"][0]]
        if query.get("sortBy") == ["createdOn"]:
            items.sort(key=lambda i: i["createdOn"], reverse=query.get("sortOrder") == ["desc"])
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["100"])[0])
        page = items[offset : offset + limit]
        return self._json(
            200,
            {"items": page, "pagination": {"limit": limit, "offset": offset, "total": len(items)}},
        )
