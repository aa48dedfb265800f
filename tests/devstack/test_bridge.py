"""The storage trigger bridge: Eventarc's event shape, at-least-once delivery with retries, its memory."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import from_http

from devstack.bridge import FINALIZED, StorageBridge, build_event, event_id
from devstack.procs import ServiceLog
from tests.devstack.receivers import receiver

OBJECT: dict[str, Any] = {
    "kind": "storage#object",
    "bucket": "webflow-uploads",
    "name": "uploads/gallery/cat photo.png",
    "generation": "1795371804901679",
    "metageneration": "1",
    "contentType": "image/png",
    "size": "2048",
    "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==",
    "timeCreated": "2026-11-22T18:23:24.901672Z",
    "updated": "2026-11-22T18:23:24.901677Z",
    "metadata": {"alt": "a cat"},
}


def test_binary_event_has_eventarc_attributes_and_the_object_as_data() -> None:
    headers, body = build_event(OBJECT)

    event = from_http(headers, body)

    assert event["type"] == FINALIZED
    assert event["source"] == "//storage.googleapis.com/projects/_/buckets/webflow-uploads"
    assert event["subject"] == "objects/uploads/gallery/cat photo.png"
    assert event["time"] == OBJECT["timeCreated"]
    assert event["specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    assert event.data == OBJECT


def test_structured_event_carries_the_same_attributes() -> None:
    binary = from_http(*build_event(OBJECT))

    structured_headers, structured_body = build_event(OBJECT, mode="structured")
    structured = from_http(structured_headers, structured_body)

    assert structured_headers["content-type"] == "application/cloudevents+json"
    assert structured.get_attributes() == {
        **binary.get_attributes(),
        "datacontenttype": "application/json",
    }
    assert structured.data == OBJECT


def test_event_id_is_stable_per_generation_and_differs_between_generations() -> None:
    first = event_id("b", "o.png", "1")

    assert event_id("b", "o.png", "1") == first
    assert event_id("b", "o.png", "2") != first
    assert first.isdigit()


def _bridge(gcs: Any, target: str, state: Path, log: ServiceLog, **kwargs: Any) -> StorageBridge:
    options: dict[str, Any] = {
        "poll_interval": 0.05,
        "initial_backoff": 0.05,
        "max_backoff": 0.2,
        "rand": lambda: 1.0,
    }
    options.update(kwargs)
    return StorageBridge(
        gcs_url=gcs.host,
        bucket=gcs.bucket_name,
        target_url=target,
        state_path=state,
        log=log,
        **options,
    )


@pytest.fixture
def running() -> Iterator[list[StorageBridge]]:
    """Bridges started by a test, stopped at its end."""
    bridges: list[StorageBridge] = []
    yield bridges
    for bridge in bridges:
        bridge.stop()


def _settle(bridge: StorageBridge, delivered: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while bridge.stats.delivered + bridge.stats.given_up < delivered or bridge.pending_count:
        assert time.monotonic() < deadline, f"bridge stats {bridge.stats}"
        time.sleep(0.02)


def test_failed_delivery_is_retried_with_backoff_under_the_same_event_id(
    gcs: Any, tmp_path: Path, service_log: ServiceLog, running: list[StorageBridge]
) -> None:
    gcs.bucket.blob("uploads/a.png").upload_from_string(b"png bytes", content_type="image/png")
    with receiver(500, 503, 204) as target:
        bridge = _bridge(gcs, target.url, tmp_path / "state.json", service_log)
        running.append(bridge)

        bridge.start()
        requests = target.wait_for(3)
        _settle(bridge, 1)

    assert bridge.stats.delivered == 1
    assert bridge.stats.failed_attempts == 2
    assert len({request.headers["ce-id"] for request in requests}) == 1
    assert requests[0].headers["ce-subject"] == "objects/uploads/a.png"
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1


def test_connection_refused_counts_as_a_failed_delivery(
    gcs: Any, tmp_path: Path, service_log: ServiceLog, running: list[StorageBridge]
) -> None:
    gcs.bucket.blob("uploads/b.png").upload_from_string(b"png", content_type="image/png")
    with receiver(204) as target:
        closed_url = target.url
    bridge = _bridge(gcs, closed_url, tmp_path / "state.json", service_log, max_attempts=2)
    running.append(bridge)

    bridge.start()
    _settle(bridge, 1)

    assert bridge.stats.delivered == 0
    assert bridge.stats.given_up == 1
    assert "ConnectError" in service_log.path.read_text()


def test_giving_up_after_max_attempts_stops_the_retries(
    gcs: Any, tmp_path: Path, service_log: ServiceLog, running: list[StorageBridge]
) -> None:
    gcs.bucket.blob("uploads/poison.png").upload_from_string(b"png", content_type="image/png")
    with receiver(500) as target:
        bridge = _bridge(gcs, target.url, tmp_path / "state.json", service_log, max_attempts=3)
        running.append(bridge)
        bridge.start()
        _settle(bridge, 1)
        time.sleep(0.3)  # several poll intervals: nothing more may arrive

        assert len(target.requests) == 3
    assert bridge.stats.given_up == 1


def test_new_bytes_are_a_new_event_but_a_metadata_patch_is_not(
    gcs: Any, tmp_path: Path, service_log: ServiceLog, running: list[StorageBridge]
) -> None:
    blob = gcs.bucket.blob("uploads/c.png")
    blob.upload_from_string(b"first", content_type="image/png")
    with receiver(204) as target:
        bridge = _bridge(gcs, target.url, tmp_path / "state.json", service_log)
        running.append(bridge)
        bridge.start()
        _settle(bridge, 1)

        blob.metadata = {"webflow-asset-id": "abc"}
        blob.patch()  # the emulator mints a new generation here; timeCreated stays
        time.sleep(0.3)
        assert len(target.requests) == 1

        time.sleep(0.01)  # timeCreated has microsecond resolution
        blob.upload_from_string(b"second", content_type="image/png")
        _settle(bridge, 2)

    assert len(target.requests) == 2
    assert json.loads(target.requests[1].body)["size"] == "6"


def test_a_restarted_bridge_does_not_deliver_again(
    gcs: Any, tmp_path: Path, service_log: ServiceLog, running: list[StorageBridge]
) -> None:
    gcs.bucket.blob("uploads/d.png").upload_from_string(b"png", content_type="image/png")
    state = tmp_path / "state.json"
    with receiver(204) as target:
        first = _bridge(gcs, target.url, state, service_log)
        running.append(first)
        first.start()
        _settle(first, 1)
        first.stop()
        running.remove(first)

        second = _bridge(gcs, target.url, state, service_log)

        assert second.discover() == 0
    assert len(target.requests) == 1


def test_state_of_another_bucket_is_ignored(tmp_path: Path, service_log: ServiceLog) -> None:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"bucket": "other", "delivered": {"a.png": "2026-01-01T00:00:00Z"}})
    )

    bridge = StorageBridge(
        gcs_url="http://127.0.0.1:9",
        bucket="mine",
        target_url="http://127.0.0.1:9/",
        state_path=state,
        log=service_log,
    )

    assert bridge._delivered == {}
    bridge.stop()


def test_backoff_is_exponential_capped_and_jittered(
    service_log: ServiceLog, tmp_path: Path
) -> None:
    bridge = StorageBridge(
        gcs_url="http://127.0.0.1:9",
        bucket="b",
        target_url="http://127.0.0.1:9/",
        state_path=tmp_path / "s.json",
        log=service_log,
        initial_backoff=1.0,
        max_backoff=10.0,
        rand=lambda: 0.0,
    )

    assert [bridge.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    bridge.stop()


FUNCTION_SOURCE = """
import json
import functions_framework

@functions_framework.cloud_event
def receive(event):
    with open(OUT, "a") as handle:
        handle.write(json.dumps({"type": event["type"], "subject": event["subject"],
                                 "id": event["id"], "name": event.data["name"]}) + "\\n")
"""


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_functions_framework_accepts_the_event(
    mode: str, tmp_path: Path, service_log: ServiceLog
) -> None:
    import threading

    import functions_framework
    from werkzeug.serving import make_server

    received = tmp_path / "received.jsonl"
    source = tmp_path / "main.py"
    source.write_text(f"OUT = {str(received)!r}\n" + FUNCTION_SOURCE)
    app = functions_framework.create_app("receive", str(source), "cloudevent")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bridge = StorageBridge(
        gcs_url="http://127.0.0.1:9",
        bucket=OBJECT["bucket"],
        target_url=f"http://127.0.0.1:{server.server_port}/",
        state_path=tmp_path / "s.json",
        log=service_log,
        mode=mode,  # type: ignore[arg-type]
    )
    try:
        error = bridge.deliver(OBJECT)
    finally:
        bridge.stop()
        server.shutdown()

    assert error is None
    assert json.loads(received.read_text()) == {
        "type": FINALIZED,
        "subject": f"objects/{OBJECT['name']}",
        "id": event_id(OBJECT["bucket"], OBJECT["name"], OBJECT["generation"]),
        "name": OBJECT["name"],
    }
