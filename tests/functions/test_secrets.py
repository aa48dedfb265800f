"""No function lets a secret out: not in its logs, not in its answers, whatever goes wrong.

Each function runs with distinctive secret values through its error paths (bad configuration,
Webflow refusing the token, an invalid body, an unexpected exception); every byte written to
stdout or stderr and every response body is then searched for those values.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.demo import make_png
from shared.core.log import clear_secrets, configure
from shared.web.webhooks import sign
from tests.conftest import Sandbox
from tests.items_support import function_app

# A token Webflow does not know: every call made with it is refused with 401.
TOKEN = "wftoken-7f3a9c1d5e8b2f40aa61"
API_KEY = "apikey-51d0e2c8b7a64f3e9d12"
WEBHOOK_SECRET = "whsecret-0b8e44a1c9d27f6e3b55"
SECRETS = (TOKEN, API_KEY, WEBHOOK_SECRET)

ENTRIES = {
    "create-items": ("create_items", "CREATE_ITEMS_API_KEYS"),
    "update-items": ("update_items", "UPDATE_ITEMS_API_KEYS"),
    "publish-live": ("publish_live", "PUBLISH_API_KEYS"),
    "upload-asset": ("upload_asset_http", "UPLOAD_API_KEYS"),
}
# A body each HTTP entry accepts, so that it reaches Webflow.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "create-items": {"items": [{"fieldData": {"name": "Secret probe", "slug": "secret-probe"}}]},
    "update-items": {"items": [{"slug": "secret-probe", "fieldData": {"name": "Probe"}}]},
    "publish-live": {"pending": True},
    "upload-asset": {"name": "uploads/probe.png"},
}
PROBE_OBJECT = "uploads/probe.png"
PNG = make_png(16, 16, "probe")  # a real image: upload-asset reads what it uploads
INVALID_BODY = {"items": "not a list", "unknown": TOKEN, "name": 7}


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Secrets registered and the log level set by one test do not carry over to the next."""
    clear_secrets()
    yield
    clear_secrets()
    configure("INFO")


@pytest.fixture
def secret_env(sandbox: Sandbox, gcs: Any) -> dict[str, str]:
    """Settings with distinctive secrets, debug logging, and a token the sandbox refuses.

    The object VALID_BODIES names for upload-asset exists, so that its upload reaches Webflow.
    """
    gcs.bucket.blob(PROBE_OBJECT).upload_from_string(PNG, content_type="image/png")
    return {
        "WEBFLOW_API_TOKEN": TOKEN,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_COLLECTION_ID": sandbox.collections["posts"],
        "WEBFLOW_MAX_RETRY_SECONDS": "1",
        "WEBFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FORM_FIELDS": "name",
        "UPLOAD_BUCKET": gcs.bucket_name,
        "UPLOAD_PREFIX": "uploads/",
        "STORAGE_RETRY_SECONDS": "1",
        "LOG_LEVEL": "DEBUG",
        **{variable: API_KEY for _, variable in ENTRIES.values()},
    }


def _assert_no_secret(capfd: pytest.CaptureFixture[str], *bodies: bytes) -> str:
    """No secret in anything written to stdout/stderr or in the bodies; returns the output."""
    out, err = capfd.readouterr()
    for secret in SECRETS:
        assert secret not in out, f"{secret} in stdout"
        assert secret not in err, f"{secret} in stderr"
        for body in bodies:
            assert secret.encode() not in body, f"{secret} in a response body"
    return out + err


def _post(client: Any, body: Any, **headers: str) -> Any:
    return client.post("/", json=body, headers=headers)


@pytest.mark.parametrize("folder", sorted(ENTRIES))
def test_every_error_path_keeps_secrets_out_of_logs_and_answers(
    folder: str,
    secret_env: dict[str, str],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, _ = ENTRIES[folder]
    auth = {"Authorization": f"Bearer {API_KEY}"}
    client = function_app(folder, target, "http", **secret_env)
    capfd.readouterr()
    bodies: list[bytes] = []

    # Webflow refuses the token.
    refused = _post(client, VALID_BODIES[folder], **auth)
    bodies.append(refused.data)
    # An invalid body; a wrong key; the key sent as the wrong scheme.
    bodies.append(_post(client, INVALID_BODY, **auth).data)
    bodies.append(_post(client, VALID_BODIES[folder], Authorization=f"Bearer {API_KEY}x").data)
    bodies.append(_post(client, VALID_BODIES[folder], Authorization=f"Basic {API_KEY}").data)
    # An unexpected exception whose message carries every secret.
    module = sys.modules["main"]

    # (Only create-items is configured with the webhook secret, so only it could redact it.)
    known = SECRETS if folder == "create-items" else (TOKEN, API_KEY)

    def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"unexpected: {' '.join(known)}")

    for name in ("create_from_request", "apply_updates", "publish", "process_object"):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, explode)
    unexpected = _post(client, VALID_BODIES[folder], **auth)
    bodies.append(unexpected.data)

    output = _assert_no_secret(capfd, *bodies)
    # Webflow's 401 for the function's own token is a 502, never blamed on the caller.
    assert refused.status_code == 502, refused.data
    assert unexpected.status_code == 500
    assert unexpected.get_json() == {
        "code": "internal_error",
        "message": "Internal error",
        "details": [],
    }
    assert "RuntimeError" in output  # the failure is logged, only without the secrets


MALFORMED = [
    ("WEBFLOW_RATE_LIMIT_PER_MINUTE", TOKEN),
    ("WEBFLOW_API_BASE_URL", f"ftp://{TOKEN}@example.com"),
    ("LOG_LEVEL", TOKEN),
]


@pytest.mark.parametrize(
    ("folder", "variable", "value"),
    [(folder, *case) for folder in sorted(ENTRIES) for case in MALFORMED]
    + [(folder, "FIELD_MAP", f'{{"name": "{TOKEN}"') for folder in ("create-items", "update-items")]
    + [("upload-asset", "UPLOAD_ALLOWED_EXTENSIONS", f"png,{TOKEN}")],
)
def test_a_malformed_variable_is_named_without_its_value(
    folder: str,
    variable: str,
    value: str,
    secret_env: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    target, _ = ENTRIES[folder]
    client = function_app(folder, target, "http", **{**secret_env, variable: value})
    capfd.readouterr()

    response = _post(client, VALID_BODIES[folder], Authorization=f"Bearer {API_KEY}")

    output = _assert_no_secret(capfd, response.data)
    assert response.status_code == 500
    assert response.get_json()["code"] == "configuration_error"
    assert variable in output


@pytest.mark.parametrize(("intake", "verified"), [("sync", 502), ("queue", 202)])
def test_create_items_webhook_errors_keep_the_secrets_out(
    secret_env: dict[str, str], capfd: pytest.CaptureFixture[str], intake: str, verified: int
) -> None:
    client = function_app("create-items", "create_items", "http", **secret_env, FORM_INTAKE=intake)
    capfd.readouterr()
    body = json.dumps(
        {
            "triggerType": "form_submission",
            "payload": {"id": uuid.uuid4().hex, "name": "Contact", "data": {"name": "Hook probe"}},
        }
    ).encode()

    def deliver(timestamp: str, signature: str) -> Any:
        headers = {"x-webflow-timestamp": timestamp, "x-webflow-signature": signature}
        return client.post("/", data=body, headers=headers, content_type="application/json")

    now = str(int(time.time() * 1000))
    answers = [
        # Verified, then (sync) Webflow refuses the token, or (queue) kept for the drain.
        deliver(now, sign(WEBHOOK_SECRET, now, body)),
        deliver(now, sign(WEBHOOK_SECRET, now, body + b" ")),
        deliver(now, WEBHOOK_SECRET),
        deliver(WEBHOOK_SECRET, "00"),
    ]

    _assert_no_secret(capfd, *(answer.data for answer in answers))
    assert [answer.status_code for answer in answers] == [verified, 401, 401, 401]


def test_upload_asset_event_failure_keeps_the_token_out(
    secret_env: dict[str, str], gcs: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    client = function_app("upload-asset", "upload_asset", "cloudevent", **secret_env)
    blob = gcs.bucket.get_blob(PROBE_OBJECT)
    event = CloudEvent(
        {
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{gcs.bucket_name}",
            "id": uuid.uuid4().hex,
        },
        {"bucket": gcs.bucket_name, "name": blob.name, "generation": str(blob.generation)},
    )
    headers, data = to_binary(event)
    capfd.readouterr()

    response = client.post("/", headers=headers, data=data)

    _assert_no_secret(capfd, response.data)
    assert response.status_code == 500  # left for redelivery


@pytest.mark.parametrize("folder", sorted(ENTRIES))
@pytest.mark.parametrize("presented", ["anything", ",", "   ", "x" * 40])
def test_without_configured_api_keys_every_call_is_refused(
    folder: str, presented: str, secret_env: dict[str, str]
) -> None:
    target, _ = ENTRIES[folder]
    env = {**secret_env, "CREATE_ITEMS_API_KEYS": " , "}
    for _, variable in ENTRIES.values():
        if variable != "CREATE_ITEMS_API_KEYS":
            env.pop(variable)
            os.environ.pop(variable, None)
    client = function_app(folder, target, "http", **env)

    response = _post(client, VALID_BODIES[folder], Authorization=f"Bearer {presented}")

    assert response.status_code == 401
    # A blank key is no key at all; anything else is a key that matches none.
    expected = "unauthorized" if not presented.strip() else "invalid_api_key"
    assert response.get_json()["code"] == expected
