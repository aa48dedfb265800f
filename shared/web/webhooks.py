"""Webflow webhooks: signature verification and the form_submission payload."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic import Field as PydanticField
from pydantic.alias_generators import to_camel

from shared.core.log import add_secret
from shared.core.problems import InvalidInput, NotAuthenticated, validation_details

__all__ = [
    "MAX_AGE_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "FormSubmission",
    "WebhookEvent",
    "parse_webhook",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "x-webflow-signature"
TIMESTAMP_HEADER = "x-webflow-timestamp"
MAX_AGE_SECONDS = 300.0
_TIMESTAMP = re.compile(r"[0-9]{1,16}")


def sign(secret: str, timestamp_ms: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of "{timestamp}:{raw body}", as Webflow signs deliveries."""
    message = f"{timestamp_ms}:".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _rejected(code: str, message: str) -> NotAuthenticated:
    return NotAuthenticated(code, message)


def verify_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secrets: Sequence[SecretStr | str],
    *,
    now: float | None = None,
    max_age_seconds: float = MAX_AGE_SECONDS,
) -> None:
    """Check a delivery's signature over the raw body and its timestamp's age (401 when not).

    Args:
        body: the raw request body, exactly as received.
        signature: the x-webflow-signature header.
        timestamp: the x-webflow-timestamp header (milliseconds since the epoch).
        secrets: accepted signing secrets (several while one is being rotated).
        now: the current time in seconds (tests).
        max_age_seconds: how far the timestamp may be from now, either way.
    """
    if not signature or not timestamp:
        raise _rejected("missing_signature", "The webhook signature or timestamp is missing")
    timestamp = timestamp.strip()
    # Plain ASCII digits only: int() would also take "+1", "1_000", other scripts' digits and
    # thousands of digits (too large to compare with a float), none of which Webflow sends.
    if not _TIMESTAMP.fullmatch(timestamp):
        raise _rejected("invalid_signature", "The webhook timestamp is not a number")
    now_ms = (time.time() if now is None else now) * 1000
    if abs(now_ms - int(timestamp)) > max_age_seconds * 1000:
        raise _rejected("stale_signature", "The webhook timestamp is too old or in the future")
    presented = signature.strip().lower().encode()
    matched = False
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not value:
            continue
        add_secret(value)
        matched |= hmac.compare_digest(presented, sign(value, timestamp, body).encode())
    if not matched:
        raise _rejected("invalid_signature", "The webhook signature does not match")


class _WebhookModel(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )


class FormSubmission(_WebhookModel):
    """The payload of a form_submission webhook."""

    id: str = PydanticField(min_length=1)
    name: str = ""
    site_id: str | None = None
    form_id: str | None = None
    form_element_id: str | None = None
    locale_id: str | None = None
    submitted_at: str | None = None
    data: dict[str, Any] = PydanticField(default_factory=dict)
    schema_: list[dict[str, Any]] = PydanticField(default_factory=list, alias="schema")


class WebhookEvent(_WebhookModel):
    """A webhook delivery: its trigger type and raw payload."""

    trigger_type: str
    payload: dict[str, Any] = PydanticField(default_factory=dict)

    def form_submission(self) -> FormSubmission:
        """The payload as a form submission (400 when it is not one)."""
        try:
            return FormSubmission.model_validate(self.payload)
        except ValidationError as exc:
            details = validation_details(exc, prefix=("payload",))
            raise InvalidInput(
                "invalid_webhook", "Not a form_submission payload", details
            ) from None


def parse_webhook(body: bytes) -> WebhookEvent:
    """Decode a (verified) delivery body (400 when it is not a webhook)."""
    try:
        return WebhookEvent.model_validate(json.loads(body))
    except (ValueError, RecursionError):  # malformed, not UTF-8, too deep, or a 4,300+ digit int
        raise InvalidInput("invalid_json", "Webhook body is not valid JSON") from None
    except ValidationError as exc:
        raise InvalidInput(
            "invalid_webhook", "Not a webhook delivery", validation_details(exc)
        ) from None
