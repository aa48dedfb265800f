"""Retry decisions: which failures to retry, how long to wait, and the total time budget."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "AMBIGUOUS_STATUSES",
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "parse_retry_after",
    "retry_after_from_headers",
]

# Statuses worth another try: the request timed out at the server, was rate limited, or the
# server (or a gateway in front of it) failed.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Statuses after which a non-idempotent write may or may not have been applied. A 500 from
# Webflow means it failed, but a gateway's 502/503/504 may come after the backend wrote.
AMBIGUOUS_STATUSES = frozenset({500, 502, 503, 504})


def _seconds(value: str, per_second: float = 1.0) -> float | None:
    """A finite number (of 1/``per_second`` seconds) as seconds, never negative; else None."""
    try:
        seconds = float(value) / per_second
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


def retry_after_from_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> float | None:
    """Seconds to wait as the server asks (retry-after-ms first, then Retry-After)."""
    millis = headers.get("retry-after-ms")
    seconds = None if millis is None else _seconds(millis, 1000.0)
    if seconds is not None:
        return seconds
    return parse_retry_after(headers.get("retry-after"), now=now)


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, Retry-After honoured within a bound."""

    max_retries: int = 6
    max_retry_seconds: float = 40.0
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25

    def backoff(self, retry_number: int, rand: float) -> float:
        """Delay before retry ``retry_number`` (0-based): doubling, capped, minus up to 25% jitter."""
        delay = min(self.initial_delay * (2.0 ** max(retry_number, 0)), self.max_delay)
        return delay * (1.0 - self.jitter * min(max(rand, 0.0), 1.0))


@dataclass
class RetryBudget:
    """Retries left and time left for one logical operation."""

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = field(default=lambda: 0.0)
    retries: int = 0
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return self.clock() - self.started

    @property
    def remaining(self) -> float:
        """Seconds of the retry budget left."""
        return max(self.policy.max_retry_seconds - self.elapsed, 0.0)

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """The wait before the next retry, or None when retries or time are used up.

        A server-given ``retry_after`` is used as is when it fits in the remaining budget; one
        that does not fit ends the retries (the caller surfaces it), since waiting less than the
        server asked only earns another refusal.
        """
        if self.retries >= self.policy.max_retries:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = self.policy.backoff(self.retries, self.rand())
        if delay > self.remaining:
            return None
        self.retries += 1
        return delay
