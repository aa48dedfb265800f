"""Injected faults: errors, spurious 429s, dropped answers, latency; reproducible with a seed."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Sandbox


def _item_count(api: httpx.Client, posts: str) -> int:
    return api.get(f"/collections/{posts}/items").json()["pagination"]["total"]


def test_error_rate_answers_500_without_applying(
    sandbox: Sandbox, api: httpx.Client, posts: str
) -> None:
    sandbox.configure(faults={"errorRate": 1})

    response = api.post(
        f"/collections/{posts}/items", json={"fieldData": {"name": "N", "slug": "n"}}
    )

    assert (response.status_code, response.json()["code"]) == (500, "internal_error")
    sandbox.configure(faults={})
    assert _item_count(api, posts) == 0


def test_rate_limit_rate_answers_spurious_429(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.configure(faults={"rateLimitRate": 1})

    response = api.get(f"/sites/{sandbox.site_id}")

    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) >= 1


def test_drop_after_write_applies_the_write_but_sends_nothing(
    sandbox: Sandbox, api: httpx.Client, posts: str
) -> None:
    sandbox.configure(faults={"dropAfterWriteRate": 1})

    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"/collections/{posts}/items", json={"fieldData": {"name": "N", "slug": "n"}})

    assert (
        api.get(f"/collections/{posts}/items", params={"slug": "n"}).json()["pagination"]["total"]
        == 1
    )


def test_drop_after_write_spares_reads(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.configure(faults={"dropAfterWriteRate": 1})

    assert api.get(f"/sites/{sandbox.site_id}").status_code == 200


def test_latency_delays_answers(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.configure(faults={"latencyMs": 200})

    started = time.monotonic()
    api.get(f"/sites/{sandbox.site_id}")

    assert time.monotonic() - started >= 0.2


def test_seeded_faults_are_reproducible(sandbox: Sandbox, api: httpx.Client) -> None:
    faults = {"errorRate": 0.3, "rateLimitRate": 0.2, "seed": 42}

    def run() -> list[int]:
        sandbox.configure(faults=faults)
        return [api.get(f"/sites/{sandbox.site_id}").status_code for _ in range(30)]

    first, second = run(), run()

    assert first == second
    assert {200, 429, 500} <= set(first)


@pytest.mark.parametrize(
    "faults", [{"errorRate": 2}, {"latencyMs": -1}, {"seed": "x"}, {"bogus": 1}]
)
def test_bad_fault_settings_are_rejected(sandbox: Sandbox, faults: dict) -> None:
    response = sandbox.http.post("/_sandbox/config", json={"faults": faults})

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([1, 2], "body"),
        ({"faults": {"errorRate": 2}}, "faults"),
        ({"rateLimitPerMinute": -1}, "rateLimitPerMinute"),
        ({"rateLimit": 10}, "rateLimit"),
    ],
)
def test_a_bad_config_names_the_setting_at_fault(
    sandbox: Sandbox, body: object, param: str
) -> None:
    response = sandbox.http.post("/_sandbox/config", json=body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "validation_error"
    assert [detail["param"] for detail in answer["details"]] == [param]
