"""The process's one verifying TLS context, shared by every HTTPS client of the functions."""

from __future__ import annotations

import functools
import os
import re
import ssl

import httpx

__all__ = ["tls_context"]

_HASHED_CERT_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def _hashed_ca_dir() -> str | None:
    """OpenSSL's CA directory (SSL_CERT_DIR or the system's) when it holds hashed certificates."""
    capath = ssl.get_default_verify_paths().capath
    if not capath:
        return None
    try:
        with os.scandir(capath) as entries:
            if any(_HASHED_CERT_NAME.fullmatch(entry.name) for entry in entries):
                return capath
    except OSError:
        pass
    return None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's verifying TLS context (hostnames checked, certificates required), shared by
    every client.

    The trust store is the system's hashed CA directory (Debian and Ubuntu's /etc/ssl/certs, as on
    Cloud Functions' runtime images; SSL_CERT_DIR names another) when it holds certificates: OpenSSL
    then reads only the CA certificate a handshake needs, when it needs it, so the context costs
    well under a millisecond. Without one it is certifi's bundle, parsed whole up front (about 20 ms,
    once per process). SSL_CERT_FILE, when set, wins and is the only store, as httpx does it.
    """
    if os.environ.get("SSL_CERT_FILE"):
        return httpx.create_ssl_context()
    capath = _hashed_ca_dir()
    if capath is not None:
        return ssl.create_default_context(capath=capath)
    return httpx.create_ssl_context(trust_env=False)
