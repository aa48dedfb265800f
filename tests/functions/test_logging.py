"""Each function's request path logs one JSON object per line, tied to its request or event.

Everything written to stdout and stderr while the function answers is read back: each line must be
a JSON object with severity and message, the request id (or the event id) and the trace of the
X-Cloud-Trace-Context header.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devstack.demo import make_png
from tests.conftest import FakeGCS, Sandbox
from tests.items_support import function_app

PROJECT = "log-test-project"
TRACE_ID = "105445aa7843bc8bf206b12000100000"
EXECUTION_ID = "exec-7d1e5a"
API_KEY = "log-test-key-0123456789"
PNG = make_png(16, 16, "probe")  # a real image: upload-asset reads what it uploads

REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "create-items": (
        "create_items",
        {"items": [{"fieldData": {"name": "Logged", "slug": "logged"}}, {"fieldData": {}}]},
    ),
    "update-items": ("update_items", {"items": [{"slug": "no-such-item", "fieldData": {}}]}),
    "publish-live": ("publish_live", {"pending": True}),
    "upload-asset": ("upload_asset_http", {"name": "uploads/logged.png"}),
}


@pytest.fixture
def env(webflow_env: dict[str, str], gcs: FakeGCS) -> Iterator[dict[str, str]]:
    """The functions pointed at the sandbox and the bucket, one API key for all, debug logs."""
    gcs.bucket.blob("uploads/logged.png").upload_from_string(PNG, content_type="image/png")
    values = {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "LOG_LEVEL": "DEBUG",
        "UPLOAD_BUCKET": gcs.bucket_name,
        "UPLOAD_PREFIX": "uploads/",
        "WEBFLOW_MAX_RETRY_SECONDS": "1",
        "STORAGE_RETRY_SECONDS": "1",
        "CREATE_ITEMS_API_KEYS": API_KEY,
    }
    os.environ.update(values)
    yield {**webflow_env, **values}
    from shared.core.log import configure

    configure("INFO")


def _json_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written to stdout and stderr, each parsed as one JSON object."""
    out, err = capfd.readouterr()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    entries = []
    for line in lines:
        entry = json.loads(line)  # a line that is not JSON fails here
        assert isinstance(entry, dict)
        assert entry["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert isinstance(entry["message"], str)
        assert entry["message"]
        entries.append(entry)
    return entries


@pytest.mark.parametrize("folder", sorted(REQUESTS))
def test_a_request_logs_json_lines_with_its_request_id_and_trace(
    folder: str, env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    target, body = REQUESTS[folder]
    client = function_app(folder, target)
    capfd.readouterr()

    response = client.post(
        "/",
        json=body,
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Function-Execution-Id": EXECUTION_ID,
            "X-Cloud-Trace-Context": f"{TRACE_ID}/1234567890;o=1",
        },
    )

    entries = _json_lines(capfd)
    assert response.status_code < 500, response.data
    assert response.headers["X-Request-Id"] == EXECUTION_ID
    assert entries, "the request logged nothing"
    for entry in entries:
        assert entry["requestId"] == EXECUTION_ID
        assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
        # The header's span id is decimal; Cloud Logging takes it as 16 hex digits.
        assert entry["logging.googleapis.com/spanId"] == "00000000499602d2"


def test_an_event_left_for_redelivery_logs_json_lines_with_its_event_id(
    env: dict[str, str],
    gcs: FakeGCS,
    sandbox: Sandbox,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = function_app("upload-asset", "upload_asset", "cloudevent")
    blob = gcs.bucket.get_blob("uploads/logged.png")
    event_id = uuid.uuid4().hex
    event = CloudEvent(
        {
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{gcs.bucket_name}",
            "id": event_id,
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        },
        {"bucket": gcs.bucket_name, "name": blob.name, "generation": str(blob.generation)},
    )
    headers, data = to_binary(event)
    sandbox.configure(faults={"errorRate": 1.0})
    capfd.readouterr()

    response = client.post("/", headers=headers, data=data)

    entries = _json_lines(capfd)
    assert response.status_code == 500  # redelivered by the platform
    assert entries
    for entry in entries:
        assert entry["eventId"] == event_id
        assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert any("redelivery" in entry["message"] for entry in entries)
    # Flask logs an exception that reaches it as a plain-text traceback (pytest's handler on the
    # root logger takes it here, stderr in production): the failure must not get that far.
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []
