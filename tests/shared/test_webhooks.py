"""Unit tests of shared/web/webhooks.py: signatures, their age, and form_submission payloads."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from shared.core.problems import Problem
from shared.web.http import AppError, to_app_error
from shared.web.webhooks import parse_webhook, sign, verify_signature

SECRET = "whsec-test-1234"
NOW = 1_760_000_000.0
NOW_MS = str(int(NOW * 1000))
BODY = json.dumps(
    {
        "triggerType": "form_submission",
        "payload": {
            "name": "Contact",
            "siteId": "s1",
            "data": {"Name": "Ada", "Email": "ada@example.com"},
            "schema": [{"fieldName": "Name", "fieldType": "FormTextInput", "fieldElementId": "e1"}],
            "submittedAt": "2026-01-01T00:00:00.000Z",
            "id": "sub-1",
            "formId": "f1",
            "formElementId": "fe1",
        },
    }
).encode()


def rejected(**overrides: object) -> AppError:
    arguments: dict[str, object] = {
        "body": BODY,
        "signature": sign(SECRET, NOW_MS, BODY),
        "timestamp": NOW_MS,
        "secrets": [SecretStr(SECRET)],
        "now": NOW,
    }
    arguments.update(overrides)
    with pytest.raises(Problem) as info:
        verify_signature(**arguments)  # type: ignore[arg-type]
    answer = to_app_error(info.value)
    assert answer.status == 401
    return answer


def test_sign_is_hmac_sha256_of_timestamp_colon_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW_MS}:".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW_MS, BODY) == expected


def test_a_correct_signature_passes() -> None:
    verify_signature(BODY, sign(SECRET, NOW_MS, BODY), NOW_MS, [SecretStr(SECRET)], now=NOW)


def test_any_of_several_secrets_passes() -> None:
    verify_signature(BODY, sign(SECRET, NOW_MS, BODY), NOW_MS, ["old-secret-99", SECRET], now=NOW)


def test_a_tampered_body_is_rejected() -> None:
    assert rejected(body=BODY.replace(b"Ada", b"Eve")).code == "invalid_signature"


def test_a_signature_made_with_another_secret_is_rejected() -> None:
    assert rejected(signature=sign("other-secret", NOW_MS, BODY)).code == "invalid_signature"


def test_a_stale_timestamp_is_rejected() -> None:
    old = str(int((NOW - 301) * 1000))
    assert rejected(timestamp=old, signature=sign(SECRET, old, BODY)).code == "stale_signature"


def test_a_timestamp_from_the_future_is_rejected() -> None:
    future = str(int((NOW + 301) * 1000))
    assert (
        rejected(timestamp=future, signature=sign(SECRET, future, BODY)).code == "stale_signature"
    )


def test_a_timestamp_within_five_minutes_passes() -> None:
    recent = str(int((NOW - 299) * 1000))
    verify_signature(BODY, sign(SECRET, recent, BODY), recent, [SECRET], now=NOW)


def test_missing_headers_are_rejected() -> None:
    assert rejected(signature=None).code == "missing_signature"
    assert rejected(timestamp="").code == "missing_signature"


def test_a_non_numeric_timestamp_is_rejected() -> None:
    assert rejected(timestamp="yesterday").code == "invalid_signature"


@pytest.mark.parametrize(
    "timestamp",
    [
        "9" * 4000,
        "+" + NOW_MS,
        NOW_MS[:4] + "_" + NOW_MS[4:],
        "\u0661" * 13,
        "1e12",
        f"{NOW_MS},{NOW_MS}",
    ],
    ids=["huge", "signed", "underscored", "arabic-digits", "exponent", "duplicated-header"],
)
def test_a_timestamp_that_is_not_plain_digits_is_rejected_even_when_signed(timestamp: str) -> None:
    signature = sign(SECRET, timestamp, BODY)
    assert rejected(timestamp=timestamp, signature=signature).code == "invalid_signature"


def test_a_duplicated_signature_header_is_rejected() -> None:
    signature = sign(SECRET, NOW_MS, BODY)
    assert rejected(signature=f"{signature},{signature}").code == "invalid_signature"


def test_no_configured_secret_rejects_everything() -> None:
    assert rejected(secrets=[]).code == "invalid_signature"


def test_form_submission_payload_is_parsed() -> None:
    submission = parse_webhook(BODY).form_submission()
    assert (submission.id, submission.name, submission.form_id) == ("sub-1", "Contact", "f1")
    assert submission.data == {"Name": "Ada", "Email": "ada@example.com"}


def test_a_payload_without_an_id_is_400() -> None:
    event = parse_webhook(b'{"triggerType": "form_submission", "payload": {"name": "x"}}')
    with pytest.raises(Problem) as info:
        event.form_submission()
    answer = to_app_error(info.value)
    assert (answer.status, answer.details[0]["field"]) == (400, "payload.id")


def test_a_body_that_is_not_json_is_400() -> None:
    with pytest.raises(Problem) as info:
        parse_webhook(b"not json")
    assert to_app_error(info.value).status == 400
