"""A local stand-in for the three challenge providers' siteverify endpoints (the real hosts cannot be
reached from here), answering as each documents it.

- ``POST /turnstile/v0/siteverify`` (Cloudflare Turnstile), ``POST /siteverify`` (hCaptcha) and
  ``POST /recaptcha/api/siteverify`` (Google reCAPTCHA): form fields ``secret``, ``response``,
  ``remoteip``. A token is good once, for 300 s, for the provider that issued it; the answers carry
  each provider's fields (``hostname``, ``challenge_ts``, Turnstile's and reCAPTCHA v3's
  ``action``, reCAPTCHA v3's ``score``) and error codes (``missing-input-secret``,
  ``invalid-input-secret``, ``missing-input-response``, ``invalid-input-response``, and for a token
  used twice or expired ``timeout-or-duplicate``, hCaptcha's ``invalid-or-already-seen-response``).
- ``POST /_fake/tokens {"provider", "hostname"?, "action"?, "score"?}``: a token, as a visitor's
  solved widget would post it (what the demo form and the tests use).
- ``POST /_fake/config {"outage": bool, "delayMs": n}``: answer 503, or answer late.

``python -m devstack.siteverify --port 0 --secret S`` prints one JSON line with its URL when ready.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

PATHS = {
    "/turnstile/v0/siteverify": "turnstile",
    "/siteverify": "hcaptcha",
    "/recaptcha/api/siteverify": "recaptcha",
}
TOKEN_SECONDS = 300.0
REUSED = {"hcaptcha": "invalid-or-already-seen-response"}


@dataclass
class Issued:
    provider: str
    hostname: str
    action: str | None
    score: float | None
    issued: float
    used: bool = False


@dataclass
class State:
    secret: str
    tokens: dict[str, Issued] = field(default_factory=dict)
    outage: bool = False
    delay: float = 0.0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, body: dict[str, Any]) -> str:
        provider = str(body.get("provider") or "turnstile")
        token = f"{provider}.{secrets.token_urlsafe(24)}"
        score = body.get("score")
        with self.lock:
            self.tokens[token] = Issued(
                provider,
                str(body.get("hostname") or "localhost"),
                body.get("action"),
                float(score) if isinstance(score, int | float) else None,
                time.monotonic(),
            )
        return token

    def verify(self, provider: str, form: dict[str, str]) -> dict[str, Any]:
        secret, token = form.get("secret"), form.get("response")
        if not secret:
            return _failure("missing-input-secret")
        if secret != self.secret:
            return _failure("invalid-input-secret")
        if not token:
            return _failure("missing-input-response")
        with self.lock:
            self.calls += 1
            issued = self.tokens.get(token)
            if issued is None or issued.provider != provider:
                return _failure("invalid-input-response")
            if issued.used or time.monotonic() - issued.issued > TOKEN_SECONDS:
                return _failure(REUSED.get(provider, "timeout-or-duplicate"))
            issued.used = True
        answer: dict[str, Any] = {
            "success": True,
            "challenge_ts": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "hostname": issued.hostname,
            "error-codes": [],
        }
        if provider in ("turnstile", "recaptcha") and issued.action is not None:
            answer["action"] = issued.action
        if provider == "turnstile":
            answer["cdata"] = ""
        if provider == "recaptcha" and issued.score is not None:
            answer["score"] = issued.score
        if provider == "hcaptcha":
            answer["credit"] = False
        return answer


def _failure(code: str) -> dict[str, Any]:
    return {"success": False, "error-codes": [code]}


class _Handler(BaseHTTPRequestHandler):
    server: SiteverifyServer

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_fake/tokens":
            self._answer(200, {"token": state.issue(_json(raw))})
        elif self.path == "/_fake/config":
            body = _json(raw)
            state.outage = bool(body.get("outage", state.outage))
            state.delay = float(body.get("delayMs", state.delay * 1000)) / 1000
            self._answer(200, {"outage": state.outage, "delayMs": state.delay * 1000})
        elif self.path in PATHS:
            if state.delay:
                time.sleep(state.delay)
            if state.outage:
                self._answer(503, {"success": False, "error-codes": ["internal-error"]})
                return
            form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
            self._answer(200, state.verify(PATHS[self.path], form))
        else:
            self._answer(404, {"error": "not found"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class SiteverifyServer(ThreadingHTTPServer):
    """The fake, on ``host:port`` (0: a free port)."""

    daemon_threads = True

    def __init__(self, host: str, port: int, secret: str) -> None:
        self.state = State(secret)
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def verify_url(self, provider: str) -> str:
        """Where ``provider``'s siteverify is served."""
        path = next(path for path, name in PATHS.items() if name == provider)
        return self.url + path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.siteverify", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", required=True, help="the secret key the functions send")
    args = parser.parse_args(argv)
    server = SiteverifyServer(args.host, args.port, args.secret)
    print(json.dumps({"url": server.url}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
