"""Unit tests of shared.webflow.retry: Retry-After parsing, backoff and the retry budget."""

from __future__ import annotations

import email.utils

import pytest

from shared.webflow.retry import (
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
    retry_after_from_headers,
)

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_http_date() -> None:
    value = email.utils.formatdate(NOW + 30, usegmt=True)

    assert parse_retry_after(value, now=NOW) == pytest.approx(30.0)


def test_parse_retry_after_date_in_the_past_is_zero() -> None:
    assert parse_retry_after(email.utils.formatdate(NOW - 100, usegmt=True), now=NOW) == 0.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "60"}) == 1.5
    assert retry_after_from_headers({"retry-after": "60"}) == 60.0
    assert retry_after_from_headers({}) is None


def test_backoff_doubles_and_caps() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)

    assert [policy.backoff(n, 0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_jitter_takes_off_at_most_a_quarter() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)

    assert policy.backoff(0, 1.0) == 0.75
    assert policy.backoff(0, 0.5) == 0.875


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_after_max_retries() -> None:
    budget = RetryBudget(RetryPolicy(max_retries=2, max_retry_seconds=100), clock=FakeClock())

    assert budget.next_delay() == 0.5
    assert budget.next_delay() == 1.0
    assert budget.next_delay() is None


def test_budget_stops_when_time_is_used_up() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetryPolicy(max_retries=10, max_retry_seconds=5), clock=clock)

    clock.now += 4.8

    assert budget.next_delay() is None


def test_budget_uses_retry_after_when_it_fits() -> None:
    budget = RetryBudget(RetryPolicy(max_retry_seconds=40), clock=FakeClock())

    assert budget.next_delay(retry_after=12) == 12


def test_budget_gives_up_on_retry_after_beyond_the_budget() -> None:
    budget = RetryBudget(RetryPolicy(max_retry_seconds=40), clock=FakeClock())

    assert budget.next_delay(retry_after=60) is None
    assert budget.retries == 0
