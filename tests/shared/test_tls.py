"""shared/webflow/tls.py's tls_context() against real TLS on loopback: which trust store it uses.

A throwaway CA signs the certificate of a local HTTPS server; a hashed CA directory holding only
that CA (named by ``openssl x509 -subject_hash``) stands in for the system's /etc/ssl/certs. Each
case runs in a fresh interpreter, since tls_context() reads the environment once per process.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import REPO_ROOT

_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class _Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return builder.not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(
        now + dt.timedelta(days=1)
    )


def _authority(name: str) -> _Authority:
    """A self-signed CA with the extensions OpenSSL's strict verification asks for."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        _validity(x509.CertificateBuilder())
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Authority(key, certificate)


def _server_pem(authority: _Authority, *, hosts: list[str], directory: Path) -> Path:
    """A server certificate for ``hosts`` signed by ``authority``, with its key, in one PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    certificate = (
        _validity(x509.CertificateBuilder())
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()),
            critical=False,
        )
        .sign(authority.key, hashes.SHA256())
    )
    path = directory / f"server-{x509.random_serial_number()}.pem"
    key_pem = key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(certificate.public_bytes(_PEM) + key_pem)
    return path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


class _HttpsServer(ThreadingHTTPServer):
    """HTTPS on a free 127.0.0.1 port; the handshake happens in the request's own thread."""

    daemon_threads = True

    def __init__(self, certificate_pem: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate_pem)
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing our certificate is what some cases expect

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.server_address[1]}/"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


@dataclass(frozen=True)
class _Pki:
    ca_pem: Path
    hashed_dir: Path
    empty_dir: Path
    trusted: _HttpsServer  # our CA, for 127.0.0.1 and localhost
    other_ca: _HttpsServer  # another CA, same names
    other_name: _HttpsServer  # our CA, for another name only


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Pki]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to name a hashed CA directory's entry")
    root = tmp_path_factory.mktemp("tls")
    ours, theirs = _authority("webflow-functions test CA"), _authority("some other CA")
    ca_pem = root / "ca.pem"
    ca_pem.write_bytes(ours.certificate.public_bytes(_PEM))
    command = [openssl, "x509", "-noout", "-subject_hash", "-in", str(ca_pem)]
    subject_hash = subprocess.check_output(command, text=True, timeout=30).strip()
    hashed_dir, empty_dir = root / "hashed", root / "empty"
    hashed_dir.mkdir()
    empty_dir.mkdir()
    shutil.copyfile(ca_pem, hashed_dir / f"{subject_hash}.0")
    loopback = ["127.0.0.1", "localhost"]
    servers = [
        _HttpsServer(_server_pem(ours, hosts=loopback, directory=root)),
        _HttpsServer(_server_pem(theirs, hosts=loopback, directory=root)),
        _HttpsServer(_server_pem(ours, hosts=["elsewhere.test"], directory=root)),
    ]
    try:
        yield _Pki(ca_pem, hashed_dir, empty_dir, *servers)
    finally:
        for server in servers:
            server.stop()


_PROBE = """
import json, ssl, sys
import httpx
from shared.webflow.tls import tls_context

context = tls_context()
report = {
    "x509_ca": context.cert_store_stats()["x509_ca"],
    "check_hostname": context.check_hostname,
    "required": context.verify_mode == ssl.CERT_REQUIRED,
    "results": [],
}
with httpx.Client(verify=context, timeout=10) as client:
    for url in sys.argv[1:]:
        try:
            report["results"].append(client.get(url).text)
        except httpx.ConnectError as exc:
            report["results"].append("error: " + str(exc))
print(json.dumps(report))
"""


def _probe(*urls: str, **environ: str) -> dict[str, Any]:
    """tls_context() in a fresh interpreter with only ``environ``'s SSL variables: GETs ``urls``."""
    env = {k: v for k, v in os.environ.items() if k not in {"SSL_CERT_FILE", "SSL_CERT_DIR"}}
    env.update(environ)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *urls],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO_ROOT,
        env=env,
    )
    return json.loads(done.stdout)


def test_a_hashed_ca_directory_is_read_lazily_and_still_verifies(pki: _Pki) -> None:
    report = _probe(
        pki.trusted.url(),
        pki.trusted.url("localhost"),
        pki.other_ca.url(),
        pki.other_name.url(),
        SSL_CERT_DIR=str(pki.hashed_dir),
    )
    assert report["x509_ca"] == 0  # nothing parsed before the first handshake
    assert report["check_hostname"]
    assert report["required"]
    trusted, by_name, other_ca, other_name = report["results"]
    assert trusted == by_name == "ok"
    assert other_ca.startswith("error:")
    assert "CERTIFICATE_VERIFY_FAILED" in other_ca
    assert other_name.startswith("error:")
    assert "CERTIFICATE_VERIFY_FAILED" in other_name


def test_a_directory_without_hashed_certificates_falls_back_to_certifi(pki: _Pki) -> None:
    report = _probe(pki.trusted.url(), SSL_CERT_DIR=str(pki.empty_dir))
    assert report["x509_ca"] > 100  # certifi's bundle, loaded whole
    assert report["check_hostname"]
    assert report["required"]
    [result] = report["results"]
    assert result.startswith("error:")
    assert "CERTIFICATE_VERIFY_FAILED" in result


def test_ssl_cert_file_wins(pki: _Pki) -> None:
    report = _probe(
        pki.trusted.url(),
        pki.other_ca.url(),
        SSL_CERT_FILE=str(pki.ca_pem),
        SSL_CERT_DIR=str(pki.empty_dir),
    )
    assert report["x509_ca"] == 1
    assert report["check_hostname"]
    assert report["required"]
    trusted, other_ca = report["results"]
    assert trusted == "ok"
    assert "CERTIFICATE_VERIFY_FAILED" in other_ca


def test_without_either_variable_the_system_directory_is_used_when_it_has_certificates() -> None:
    system_dir = ssl.get_default_verify_paths().openssl_capath  # OpenSSL's, whatever env says
    hashed = os.path.isdir(system_dir) and any(
        re.fullmatch(r"[0-9a-f]{8}\.[0-9]+", name) for name in os.listdir(system_dir)
    )
    report = _probe()
    assert report["check_hostname"]
    assert report["required"]
    if hashed:
        assert report["x509_ca"] == 0
    else:
        assert report["x509_ca"] > 100
