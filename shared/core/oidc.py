"""Google-signed OIDC ID tokens (Cloud Scheduler's): signature, issuer, audience, expiry, invoker."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from shared.core.log import get_logger
from shared.core.problems import Forbidden, NotAuthenticated, Problem, Unavailable
from shared.webflow.tls import tls_context

__all__ = [
    "CERTS_TTL_SECONDS",
    "CLOCK_SKEW_SECONDS",
    "GOOGLE_CERTS_URL",
    "GOOGLE_ISSUERS",
    "CertificateCache",
    "certificates",
    "is_jwt",
    "verify_invoker",
]

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CERTS_TTL_SECONDS = 3600.0
# Google publishes a new key well before it signs with it: an unknown key id refetches, but at
# most this often, so forged key ids cannot make every request fetch.
CERTS_REFETCH_SECONDS = 60.0
CERTS_TIMEOUT_SECONDS = 5.0
CLOCK_SKEW_SECONDS = 10
# Google's ID tokens are about 1 KB; a longer one is refused before any decoding, since a header or
# payload nested a thousand deep costs a recursive parse.
MAX_TOKEN_CHARS = 8192

logger = get_logger(__name__)


def _b64_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def is_jwt(value: str) -> bool:
    """True when ``value`` has a JWT's shape: three base64url parts, the first a JSON header."""
    if len(value) > MAX_TOKEN_CHARS:
        return False
    parts = value.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        header = _b64_json(parts[0])
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and "alg" in header


def _key_id(token: str) -> str | None:
    header = _b64_json(token.split(".", 1)[0])
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


class CertificateCache:
    """Google's signing certificates ({key id: PEM}), fetched once per instance and kept a while."""

    def __init__(
        self,
        *,
        ttl: float = CERTS_TTL_SECONDS,
        refetch_interval: float = CERTS_REFETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, str]]] = {}

    def get(self, url: str, key_id: str | None = None) -> dict[str, str]:
        """The certificates at ``url``; refetched when stale, or when ``key_id`` is not among them.

        Raises:
            Unavailable: when the certificates cannot be fetched (the caller may retry).
        """
        with self._lock:
            now = self._clock()
            fetched_at, certs = self._entries.get(url, (float("-inf"), {}))
            stale = now - fetched_at >= self._ttl
            unknown_key = key_id is not None and key_id not in certs
            if stale or (unknown_key and now - fetched_at >= self._refetch_interval):
                certs = self._fetch(url)
                self._entries[url] = (now, certs)
            return certs

    def clear(self) -> None:
        """Forget every fetched document (tests)."""
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _fetch(url: str) -> dict[str, str]:
        try:
            response = httpx.get(url, timeout=CERTS_TIMEOUT_SECONDS, verify=tls_context())
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("cannot fetch OIDC certificates", extra={"url": url, "error": str(exc)})
            raise Unavailable(
                "oidc_unavailable",
                "The token's signing certificates cannot be fetched; try again",
                [{"field": "Authorization", "message": "could not be verified now"}],
                retry_after=30,
            ) from exc
        if not isinstance(document, dict) or not all(
            isinstance(value, str) for value in document.values()
        ):
            raise Unavailable("oidc_unavailable", "The signing certificates are malformed")
        return document


certificates = CertificateCache()
"""The instance's certificate cache."""


def _refused(code: str, message: str, reason: str) -> NotAuthenticated:
    """A token that is not valid: the caller is asked for a valid one."""
    details = [{"field": "Authorization", "message": reason}]
    return NotAuthenticated(code, message, details, realm="publish-live")


def _not_allowed(reason: str) -> Forbidden:
    """A valid token of an identity that may not call."""
    details = [{"field": "Authorization", "message": reason}]
    return Forbidden("invoker_not_allowed", "The token's identity is not allowed", details)


def _normalise_audience(value: str) -> str:
    return value.strip().rstrip("/")


def verify_invoker(
    token: str,
    *,
    audiences: Sequence[str],
    allowed_invokers: frozenset[str],
    certs_url: str = GOOGLE_CERTS_URL,
    certificate_cache: CertificateCache | None = None,
) -> str:
    """The email of an allowed invoker whose Google-signed ID token ``token`` is.

    Checks the RS256 signature against Google's certificates, the expiry (with a few seconds of
    clock skew), the issuer, that the audience is one of ``audiences``, that the email is verified
    and that it is one of ``allowed_invokers`` (lower case).

    Raises:
        NotAuthenticated: a token that is not valid (signature, expiry, issuer, audience).
        Forbidden: a valid token of an identity not allowed.
        Unavailable: Google's certificates cannot be fetched.
    """
    # google-auth (and the cryptography it uses) loads only when a token arrives.
    from google.auth import jwt

    cache = certificate_cache or certificates
    if len(token) > MAX_TOKEN_CHARS:
        reason = f"is longer than {MAX_TOKEN_CHARS} characters"
        raise _refused("invalid_token", "The OIDC token is not valid", reason)
    try:
        certs = cache.get(certs_url, _key_id(token))
        claims: Mapping[str, Any] = jwt.decode(
            token, certs=certs, audience=None, clock_skew_in_seconds=CLOCK_SKEW_SECONDS
        )
    except Problem:
        raise
    except (ValueError, binascii.Error, RecursionError) as exc:  # google-auth raises ValueErrors
        # Its messages may quote the token: the caller and the log get a reason of our own.
        reason = _reason(exc)
        logger.info("OIDC token refused", extra={"reason": reason})
        raise _refused("invalid_token", "The OIDC token is not valid", reason) from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise _refused("invalid_token", "The OIDC token is not valid", "is not from Google")
    audience = claims.get("aud")
    wanted = {_normalise_audience(value) for value in audiences}
    if not isinstance(audience, str) or _normalise_audience(audience) not in wanted:
        raise _refused(
            "invalid_token",
            "The OIDC token is not valid",
            "is meant for another audience than this function",
        )
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        raise _not_allowed("has no verified email")
    if email.lower() not in allowed_invokers:
        raise _not_allowed("names an identity not in PUBLISH_ALLOWED_INVOKERS")
    return email


def _reason(error: Exception) -> str:
    """What was wrong with a token google-auth refused, in words that never quote it."""
    text = str(error).lower()
    if "expired" in text:
        return "has expired"
    if "too early" in text:
        return "is not valid yet"
    if "signature" in text or "certificate for key id" in text:
        return "has a signature that does not verify with Google's keys"
    return "is not a well-formed Google ID token"
