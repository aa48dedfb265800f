"""Assembling the server from its parts."""

from __future__ import annotations

from pathlib import Path

from .api import ItemsApi
from .assets import AssetsApi
from .control import ControlApi
from .server import App, SandboxServer
from .store import Store, load_seed
from .webhooks import WebhooksApi


def build_app(
    *,
    host: str = "127.0.0.1",
    rate_limit: int = 60,
    db_path: str | None = None,
    seed_path: str | Path | None = None,
) -> App:
    """Create the application with every endpoint registered."""
    store = Store(load_seed(seed_path), db_path)
    app = App(store, rate_limit=rate_limit, host=host)
    for module in (ItemsApi(app), AssetsApi(app), WebhooksApi(app), ControlApi(app)):
        for route in module.routes():
            app.router.add(route)
    return app


def make_server(app: App, port: int) -> SandboxServer:
    """Bind the HTTP server (port 0 picks a free port)."""
    return SandboxServer((app.host, port), app)
