"""Sandbox-only control endpoints under /_sandbox (no auth: the server listens on loopback)."""

from __future__ import annotations

from typing import Any

from .errors import validation_error
from .faults import FaultConfig
from .routing import Request, Response, Route
from .server import App


def _locale_summary(locale: dict[str, Any]) -> dict[str, Any]:
    return {"id": locale["id"], "cmsLocaleId": locale["cmsLocaleId"]}


class ControlApi:
    """GET info/stats/config, POST reset/config."""

    def __init__(self, app: App) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        """The control endpoints."""
        return [
            Route("GET", "/_sandbox/info", self.info, kind="control"),
            Route("POST", "/_sandbox/reset", self.reset, kind="control"),
            Route("GET", "/_sandbox/stats", self.stats, kind="control"),
            Route("GET", "/_sandbox/config", self.get_config, kind="control"),
            Route("POST", "/_sandbox/config", self.set_config, kind="control"),
        ]

    def info(self, request: Request) -> Response:
        """Where the API is, the seed tokens, the site, its locales and collection ids."""
        state = self.app.store.state
        site = self.app.store.seed_site()
        tokens = {t.name: t.token for t in state.tokens.values() if t.name}
        locales = site["locales"]
        return Response.json(
            200,
            {
                "apiBaseUrl": self.app.api_base_url,
                "tokens": {
                    "full": tokens.get("full"),
                    "readOnly": tokens.get("readOnly"),
                },
                "site": {
                    "id": site["id"],
                    "locales": {
                        "primary": _locale_summary(locales["primary"]),
                        "secondary": [_locale_summary(loc) for loc in locales.get("secondary", [])],
                    },
                },
                "collections": dict(state.collection_keys),
            },
        )

    def reset(self, request: Request) -> Response:
        """Back to the seed and the start-up configuration; statistics cleared."""
        self.app.reset()
        return Response.json(200, {"reset": True})

    def stats(self, request: Request) -> Response:
        """Request counts by route and status."""
        return Response.json(200, self.app.stats.to_json())

    def _config(self) -> dict[str, Any]:
        return {
            "rateLimitPerMinute": self.app.limiter.limit,
            "faults": self.app.faults.config.to_json(),
        }

    def get_config(self, request: Request) -> Response:
        """The current rate limit and faults."""
        return Response.json(200, self._config())

    def set_config(self, request: Request) -> Response:
        """Change ``rateLimitPerMinute`` and/or ``faults`` (the windows restart)."""
        body = request.json()
        if not isinstance(body, dict):
            raise validation_error(
                [{"param": "body", "description": "must be an object"}], "Body must be an object"
            )
        unknown = set(body) - {"rateLimitPerMinute", "faults"}
        if unknown:
            raise validation_error(
                [{"param": name, "description": "is not a setting"} for name in sorted(unknown)],
                f"Unknown settings: {sorted(unknown)}",
            )
        faults = None
        if "faults" in body:
            try:
                faults = FaultConfig.from_json(body["faults"])
            except ValueError as exc:
                raise validation_error(
                    [{"param": "faults", "description": str(exc)}], str(exc)
                ) from exc
        if "rateLimitPerMinute" in body:
            limit = body["rateLimitPerMinute"]
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise validation_error(
                    [{"param": "rateLimitPerMinute", "description": "must be an integer >= 0"}],
                    "rateLimitPerMinute must be an integer >= 0",
                )
            self.app.limiter.reset(limit)
        if faults is not None:
            self.app.faults.configure(faults)
        return Response.json(200, self._config())
