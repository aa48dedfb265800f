"""The HTTP server: request plumbing, authentication, rate limiting, faults, statistics."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .cms import Cms
from .errors import ApiError, not_found
from .faults import FaultConfig, Faults, RateLimiter, too_many_requests
from .routing import Request, Response, Route, Router
from .store import Doc, Store

log = logging.getLogger("sandbox")

MAX_BODY_BYTES = 64 * 1024 * 1024
SPURIOUS_RETRY_AFTER_SECONDS = 1


class Stats:
    """Counts of API requests by route and by status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self.total = 0
            self.by_route: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()

    def count(self, route_name: str, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            self.total += 1
            self.by_route[route_name] += 1
            self.by_status[str(status)] += 1

    def to_json(self) -> dict[str, Any]:
        """Render as GET /_sandbox/stats answers."""
        with self._lock:
            return {
                "total": self.total,
                "byRoute": dict(self.by_route),
                "byStatus": dict(self.by_status),
            }


class App:
    """Everything a request needs: state, rules, configuration, routes."""

    def __init__(self, store: Store, *, rate_limit: int, host: str = "127.0.0.1") -> None:
        self.store = store
        self.cms = Cms(store)
        self.initial_rate_limit = rate_limit
        self.limiter = RateLimiter(rate_limit)
        self.faults = Faults()
        self.stats = Stats()
        self.router = Router()
        self.host = host
        self.port = 0
        self.extensions: list[Any] = []  # objects with reset() and close() (webhook dispatcher)
        self.site_publish_times: dict[str, float] = {}

    # ------------------------------------------------------------------ urls
    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` as clients reach this server."""
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """The Data API base URL (``.../v2``)."""
        return f"{self.root_url}/v2"

    # ------------------------------------------------------------------ control
    def reset(self) -> None:
        """Back to the seed and the start-up configuration; statistics cleared."""
        self.store.reset()
        self.limiter.reset(self.initial_rate_limit)
        self.faults.configure(FaultConfig())
        self.stats.clear()
        self.site_publish_times.clear()
        for extension in self.extensions:
            extension.reset()

    # ------------------------------------------------------------------ access checks
    def site_for(self, request: Request, site_id: str) -> Doc:
        """The site ``site_id`` if the request's token may use it (404/403 otherwise)."""
        site = self.store.state.sites.get(site_id)
        if site is None:
            raise not_found(what="Site")
        self._check_site(request, site_id)
        return site

    def collection_for(self, request: Request, collection_id: str) -> Doc:
        """The collection if the request's token's site owns it (404/403 otherwise)."""
        collection = self.store.state.collections.get(collection_id)
        if collection is None:
            raise not_found("collection_not_found", "Collection")
        self._check_site(request, collection["siteId"])
        return collection

    @staticmethod
    def _check_site(request: Request, site_id: str) -> None:
        if request.token is not None and request.token.site_id != site_id:
            raise ApiError(
                403, "forbidden", "Provided access token is not authorized for this site"
            )

    # ------------------------------------------------------------------ dispatch
    def authenticate(self, request: Request) -> None:
        """Attach the request's token, or answer 401 not_authorized."""
        header = request.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        token = self.store.state.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, "not_authorized", "Request not authorized")
        request.token = token

    def dispatch(self, request: Request) -> tuple[Response, bool]:
        """Answer one request; the flag says to drop the connection without answering."""
        route, params, path_known = self.router.match(request.method, request.path)
        if route is None and not request.path.startswith("/v2/"):
            error = _no_route_error(path_known)
            return Response.json(error.status, error.body()), False
        if route is not None and route.kind != "api":
            response = self._call(route, request, params)
            if route.kind == "s3":
                self.stats.count(route.name, response.status)
            return response, False
        rate_headers: dict[str, str] = {}
        drop = False
        try:
            self.authenticate(request)
            rate_headers = self.limiter.acquire(request.token.token)
            if route is None:
                raise _no_route_error(path_known)
            if route.scope and route.scope not in request.token.scopes:
                raise ApiError(
                    403,
                    "missing_scopes",
                    f"OAuthForbidden: missing scopes: {route.scope}",
                    [{"param": "scope", "description": f"Required scope: {route.scope}"}],
                )
            decision = self.faults.decide(is_write=route.write)
            if decision.latency_seconds:
                time.sleep(decision.latency_seconds)
            if decision.drop:  # closed before the request is applied
                response, drop = Response.empty(500), True
            elif decision.error:
                response = _injected_error(decision.error_status)
            elif decision.rate_limited:
                raise too_many_requests(self.limiter.limit, SPURIOUS_RETRY_AFTER_SECONDS)
            else:
                response = self._call(route, request, params)
                drop = decision.drop_after_write
        except ApiError as exc:
            response = Response.json(exc.status, exc.body(), exc.headers)
        for name, value in rate_headers.items():
            response.headers.setdefault(name, value)
        if "X-RateLimit-Limit" not in response.headers:  # not counted (401): the full allowance
            response.headers.update(self.limiter.full_allowance())
        self.stats.count(
            route.name if route else f"{request.method} {request.path}", response.status
        )
        return response, drop

    @staticmethod
    def _call(route: Route, request: Request, params: dict[str, str]) -> Response:
        try:
            return route.handler(request, **params)
        except ApiError as exc:
            return Response.json(exc.status, exc.body(), exc.headers)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return Response.json(
                500, ApiError(500, "internal_error", "Internal Server Error").body()
            )


class SandboxHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that hands every request to :class:`App`."""

    protocol_version = "HTTP/1.1"
    server_version = "webflow-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    server: SandboxServer

    def handle_one_request(self) -> None:
        """Parse one request and answer it (or drop the connection)."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        app = self.server.app
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            error = ApiError(413, "bad_request", "Request body too large or malformed")
            self._write(Response.json(413, error.body()))
            return
        request = Request.build(self.command, self.path, self.headers, body)
        response, drop = app.dispatch(request)
        if drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # headers and body leave in one write: BaseHTTPRequestHandler buffers what send_header
        # writes in _headers_buffer (private, and absent from typeshed) until flush_headers
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffer.append(b"\r\n")
        if self.command != "HEAD":
            buffer.append(response.body)
        self.flush_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at debug level, to stderr (formatted only when enabled)."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)


class SandboxServer(ThreadingHTTPServer):
    """Threaded server carrying the :class:`App`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, SandboxHandler)
        app.port = self.server_address[1]


def _injected_error(status: int) -> Response:
    """An injected failure: Webflow's own 500 in JSON, or a gateway's page in front of it."""
    if status == 400:
        detail = {"param": "fieldData.name", "description": "Validation Error: is not accepted"}
        error = ApiError(400, "validation_error", "Validation Error", [detail])
        return Response.json(400, error.body())
    if status == 500:
        return Response.json(500, ApiError(500, "internal_error", "Internal Server Error").body())
    if status == 503:
        error = ApiError(503, "service_unavailable", "Service Unavailable")
        return Response.json(503, error.body(), {"Retry-After": "1"})
    reason = {502: "Bad Gateway", 504: "Gateway Timeout"}[status]
    page = f"<html><head><title>{status} {reason}</title></head><body>{reason}</body></html>"
    return Response(status, page.encode(), {}, "text/html")


def _no_route_error(path_known: bool) -> ApiError:
    """The answer to a request no route takes: 405 for a known path, else 404."""
    if path_known:
        return ApiError(405, "bad_request", "Method not allowed")
    return ApiError(404, "resource_not_found", "Route not found")
