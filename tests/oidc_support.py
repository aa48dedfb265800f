"""A local stand-in for Google's ID-token signer: an RSA key, its certificate served on loopback."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

KEY_ID = "local-key-1"


def _key_and_certificate() -> tuple[bytes, str]:
    """A fresh RSA key (PEM) and a self-signed certificate of it (PEM), as Google publishes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oidc.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


class OidcIssuer:
    """Signs ID tokens like accounts.google.com and serves the certificates at ``certs_url``."""

    def __init__(self) -> None:
        self.key_pem, self.certificate_pem = _key_and_certificate()
        self.signer = crypt.RSASigner.from_string(self.key_pem, key_id=KEY_ID)
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = json.dumps({KEY_ID: issuer.certificate_pem}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.certs_url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth2/v1/certs"

    def token(
        self, *, signer: crypt.Signer | None = None, omit: tuple[str, ...] = (), **claims: Any
    ) -> str:
        """A signed ID token with Google's claims, overridden by ``claims``, without ``omit``."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": "https://publish.example/",
            "sub": "1234567890",
            "email": "scheduler@project.iam.gserviceaccount.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        for name in omit:
            payload.pop(name, None)
        return jwt.encode(signer or self.signer, payload).decode()

    def close(self) -> None:
        """Stop serving the certificates."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def oidc_issuer() -> Iterator[OidcIssuer]:
    """A token signer whose certificates are served on loopback for the module's tests."""
    issuer = OidcIssuer()
    yield issuer
    issuer.close()


def other_signer() -> crypt.Signer:
    """A signer with the issuer's key id but another key: its signatures do not verify."""
    key_pem, _ = _key_and_certificate()
    return crypt.RSASigner.from_string(key_pem, key_id=KEY_ID)
