"""Unit tests of shared/core/oidc.py: ID tokens signed by a local key, certificates served on loopback."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from google.auth import crypt

from shared.core.oidc import CertificateCache, is_jwt, verify_invoker
from shared.core.problems import Problem
from shared.web.http import AppError, to_app_error
from tests.oidc_support import OidcIssuer, other_signer
from tests.support import free_port

AUDIENCE = "https://publish.example/"
SCHEDULER = "scheduler@project.iam.gserviceaccount.com"
INVOKERS = frozenset({SCHEDULER})


def _verify(issuer: OidcIssuer, token: str, cache: CertificateCache | None = None) -> str:
    return verify_invoker(
        token,
        audiences=[AUDIENCE],
        allowed_invokers=INVOKERS,
        certs_url=issuer.certs_url,
        certificate_cache=cache or CertificateCache(),
    )


def _refusal(issuer: OidcIssuer, token: str) -> AppError:
    """The domain's refusal of ``token``, as the web layer answers it."""
    with pytest.raises(Problem) as raised:
        _verify(issuer, token)
    return to_app_error(raised.value)


def test_a_valid_token_of_an_allowed_invoker_is_accepted(oidc_issuer: OidcIssuer) -> None:
    assert _verify(oidc_issuer, oidc_issuer.token()) == SCHEDULER


def test_the_invoker_email_is_matched_without_case(oidc_issuer: OidcIssuer) -> None:
    token = oidc_issuer.token(email="Scheduler@Project.iam.gserviceaccount.com")
    assert _verify(oidc_issuer, token) == "Scheduler@Project.iam.gserviceaccount.com"


def test_the_audience_may_differ_by_a_trailing_slash(oidc_issuer: OidcIssuer) -> None:
    assert _verify(oidc_issuer, oidc_issuer.token(aud=AUDIENCE.rstrip("/"))) == SCHEDULER


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://another-service.example/"}, "another audience"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://evil.example"}, "not from Google"),
    ],
    ids=["wrong-audience", "expired", "wrong-issuer"],
)
def test_an_invalid_token_is_401_naming_the_authorization_header(
    oidc_issuer: OidcIssuer, claims: dict[str, Any], reason: str
) -> None:
    error = _refusal(oidc_issuer, oidc_issuer.token(**claims))
    assert (error.status, error.code) == (401, "invalid_token")
    assert error.details[0]["field"] == "Authorization"
    assert reason in error.details[0]["message"]
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_a_token_signed_by_another_key_is_401(oidc_issuer: OidcIssuer) -> None:
    error = _refusal(oidc_issuer, oidc_issuer.token(signer=other_signer()))
    assert (error.status, error.code) == (401, "invalid_token")
    assert error.details == [
        {
            "field": "Authorization",
            "message": "has a signature that does not verify with Google's keys",
        }
    ]


def test_an_unsigned_token_is_401(oidc_issuer: OidcIssuer) -> None:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signed = oidc_issuer.token()
    unsigned = f"{part({'alg': 'none', 'typ': 'JWT'})}.{signed.split('.')[1]}."
    assert _refusal(oidc_issuer, unsigned + "c2ln").status == 401


def test_a_token_without_expiry_is_401(oidc_issuer: OidcIssuer) -> None:
    assert _refusal(oidc_issuer, oidc_issuer.token(omit=("exp",))).status == 401


def test_a_valid_token_of_another_identity_is_403(oidc_issuer: OidcIssuer) -> None:
    token = oidc_issuer.token(email="intruder@project.iam.gserviceaccount.com")
    error = _refusal(oidc_issuer, token)
    assert (error.status, error.code) == (403, "invoker_not_allowed")
    assert error.details[0]["field"] == "Authorization"
    assert "PUBLISH_ALLOWED_INVOKERS" in error.details[0]["message"]


@pytest.mark.parametrize("verified", [False, "true", None])
def test_a_token_whose_email_is_not_verified_is_403(
    oidc_issuer: OidcIssuer, verified: object
) -> None:
    error = _refusal(oidc_issuer, oidc_issuer.token(email_verified=verified))
    assert (error.status, error.details[0]["field"]) == (403, "Authorization")


def test_refusals_never_quote_the_token(oidc_issuer: OidcIssuer) -> None:
    token = oidc_issuer.token(signer=other_signer())
    error = _refusal(oidc_issuer, token)
    assert token.split(".")[1] not in json.dumps([error.message, error.details])


# --- certificates -------------------------------------------------------------------------------


def test_certificates_are_fetched_once_per_instance(oidc_issuer: OidcIssuer) -> None:
    cache = CertificateCache()
    before = oidc_issuer.fetches
    for _ in range(3):
        _verify(oidc_issuer, oidc_issuer.token(), cache)
    assert oidc_issuer.fetches - before == 1


def test_stale_certificates_are_fetched_again(oidc_issuer: OidcIssuer) -> None:
    now = [0.0]
    cache = CertificateCache(ttl=3600, clock=lambda: now[0])
    before = oidc_issuer.fetches
    _verify(oidc_issuer, oidc_issuer.token(), cache)
    now[0] = 3600.0
    _verify(oidc_issuer, oidc_issuer.token(), cache)
    assert oidc_issuer.fetches - before == 2


def test_an_unknown_key_id_refetches_at_most_once_a_minute(oidc_issuer: OidcIssuer) -> None:
    now = [0.0]
    cache = CertificateCache(clock=lambda: now[0])
    _verify(oidc_issuer, oidc_issuer.token(), cache)
    before = oidc_issuer.fetches
    rotated = crypt.RSASigner.from_string(oidc_issuer.key_pem, key_id="rotated-key")
    for _ in range(3):
        with pytest.raises(Problem):
            _verify(oidc_issuer, oidc_issuer.token(signer=rotated), cache)
    assert oidc_issuer.fetches == before
    now[0] = 61.0
    with pytest.raises(Problem):
        _verify(oidc_issuer, oidc_issuer.token(signer=rotated), cache)
    assert oidc_issuer.fetches == before + 1


def test_unreachable_certificates_are_503_with_retry_after(oidc_issuer: OidcIssuer) -> None:
    with pytest.raises(Problem) as raised:
        verify_invoker(
            oidc_issuer.token(),
            audiences=[AUDIENCE],
            allowed_invokers=INVOKERS,
            certs_url=f"http://127.0.0.1:{free_port()}/certs",
            certificate_cache=CertificateCache(),
        )
    answer = to_app_error(raised.value)
    assert (answer.status, answer.code) == (503, "oidc_unavailable")
    assert answer.headers["Retry-After"] == "30"


# --- shape ---------------------------------------------------------------------------------------


def test_a_jwt_is_told_from_an_api_key(oidc_issuer: OidcIssuer) -> None:
    assert is_jwt(oidc_issuer.token())
    assert not is_jwt("create-key-0123456789")
    assert not is_jwt("a.b.c")
    assert not is_jwt("key.with.dots-0123456789")


def test_google_auth_loads_only_when_a_token_arrives() -> None:
    code = (
        "import sys, shared.cms.publishing, shared.core.oidc; "
        "assert 'google.auth' not in sys.modules, 'imported at start'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
