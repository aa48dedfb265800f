"""The sliding-minute rate limiter and the fault draws, with a controlled clock."""

from __future__ import annotations

import pytest

from sandbox.errors import ApiError
from sandbox.faults import FaultConfig, Faults, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_after_counts_until_the_oldest_request_leaves_the_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    limiter.acquire("t")
    clock.now += 10
    limiter.acquire("t")
    clock.now += 20

    with pytest.raises(ApiError) as refused:
        limiter.acquire("t")

    assert refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "30"
    assert refused.value.headers["X-RateLimit-Remaining"] == "0"


def test_a_slot_frees_when_its_request_is_a_minute_old() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    limiter.acquire("t")
    clock.now += 10
    limiter.acquire("t")

    clock.now += 50.5
    headers = limiter.acquire("t")

    assert headers == {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0"}


def test_a_refused_request_does_not_take_a_slot() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    limiter.acquire("t")
    for _ in range(5):
        with pytest.raises(ApiError):
            limiter.acquire("t")

    clock.now += 60.01

    assert limiter.acquire("t")["X-RateLimit-Remaining"] == "0"


def test_limit_zero_never_refuses() -> None:
    limiter = RateLimiter(0, clock=Clock())

    assert all(limiter.acquire("t")["X-RateLimit-Remaining"] == "100000" for _ in range(1000))


def test_seeded_fault_draws_repeat_and_differ_between_seeds() -> None:
    def draws(seed: int) -> list[tuple[bool, bool, bool]]:
        faults = Faults(
            FaultConfig(error_rate=0.5, rate_limit_rate=0.5, drop_after_write_rate=0.5, seed=seed)
        )
        return [
            (d.error, d.rate_limited, d.drop_after_write)
            for d in (faults.decide(is_write=True) for _ in range(50))
        ]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
