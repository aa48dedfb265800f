"""The demo scenario's own client behaviour, against small fakes (the whole run is in the e2e test)."""

from __future__ import annotations

import io

import httpx

from devstack.demo import Demo

STATE = {
    "services": {
        name: {"url": f"http://127.0.0.1:{port}"}
        for name, port in [("create-items", 1), ("publish-live", 3), ("gcs", 5)]
    },
    "sandbox": {
        "collections": {"submissions": "s"},
        "controlUrl": "http://127.0.0.1:0/_sandbox",
        "apiBaseUrl": "http://127.0.0.1:0/v2",
        "tokens": {"readOnly": "read-only"},
    },
    "apiKey": "key",
}


def demo_answering(*answers: httpx.Response) -> tuple[Demo, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    remaining = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return remaining.pop(0)

    demo = Demo(STATE, io.StringIO(), timeout=5.0)
    demo.http = httpx.Client(transport=httpx.MockTransport(answer))
    return demo, sent


def test_a_rate_limited_form_post_is_sent_again_after_retry_after() -> None:
    demo, sent = demo_answering(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(201)
    )
    response = demo.post_form(demo.create_items_url, data={"name": "x"})
    assert response.status_code == 201
    assert len(sent) == 2
    assert "rate limited" in demo.out.getvalue()  # type: ignore[attr-defined]


def test_a_wait_longer_than_the_step_timeout_is_reported_not_slept() -> None:
    demo, sent = demo_answering(httpx.Response(429, headers={"Retry-After": "600"}))
    response = demo.post_form(demo.create_items_url, data={"name": "x"})
    assert response.status_code == 429
    assert len(sent) == 1
