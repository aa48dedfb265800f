"""Rate limiting per token over a sliding minute."""

from __future__ import annotations

import httpx

from tests.conftest import Sandbox
from tests.sandbox.conftest import PrivateSandbox


def test_requests_past_the_limit_get_429_with_retry_after(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    sandbox.configure(rateLimitPerMinute=3)
    url = f"/sites/{sandbox.site_id}"

    answers = [api.get(url) for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in answers)
    limited = answers[-1]
    assert limited.json() == {
        "message": "Too Many Requests",
        "code": "too_many_requests",
        "externalReference": None,
        "details": [],
    }
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_limit_is_per_token(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.configure(rateLimitPerMinute=1)
    api.get(f"/sites/{sandbox.site_id}")

    with sandbox.api(sandbox.read_only_token) as other:
        assert other.get(f"/sites/{sandbox.site_id}").status_code == 200
    assert api.get(f"/sites/{sandbox.site_id}").status_code == 429


def test_reset_restores_the_start_up_limit(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.configure(rateLimitPerMinute=1)
    api.get(f"/sites/{sandbox.site_id}")

    sandbox.reset()

    assert sandbox.http.get("/_sandbox/config").json()["rateLimitPerMinute"] == 0
    assert api.get(f"/sites/{sandbox.site_id}").status_code == 200


def test_cli_rate_limit_applies_from_start(private_sandbox: PrivateSandbox) -> None:
    private_sandbox.start(rate_limit=2)
    info = private_sandbox.info()
    with private_sandbox.api(info["tokens"]["full"]) as client:
        statuses = [client.get(f"/sites/{info['site']['id']}").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
