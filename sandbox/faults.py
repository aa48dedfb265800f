"""Rate limiting per token and injected faults."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

WINDOW_SECONDS = 60.0
# What errorRate answers with: Webflow's own 500, or a gateway's 502/503/504 in front of it; or
# a 400 validation_error naming a field, Webflow's verdict on what was sent.
ERROR_STATUSES = frozenset({400, 500, 502, 503, 504})
SCOPES = ("all", "writes", "reads")
# Reported in X-RateLimit-* when limiting is off, so that clients never slow down.
UNLIMITED = 100_000


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities of injected faults, and an optional fixed latency."""

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_after_write_rate: float = 0.0
    latency_ms: float = 0.0
    seed: int | None = None
    drop_rate: float = 0.0
    error_status: int = 500
    scope: str = "all"

    @classmethod
    def from_json(cls, doc: Any) -> FaultConfig:
        """Build from the control API's ``faults`` object, raising ValueError on bad values."""
        if not isinstance(doc, dict):
            raise ValueError("faults must be an object")  # noqa: TRY004 - one error type for bad settings
        known = {
            "errorRate",
            "rateLimitRate",
            "dropAfterWriteRate",
            "dropRate",
            "latencyMs",
            "seed",
            "errorStatus",
            "faultsOn",
        }
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        rates = {}
        for key in ("errorRate", "rateLimitRate", "dropAfterWriteRate", "dropRate"):
            value = doc.get(key, 0.0)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise ValueError(f"{key} must be a number between 0 and 1")
            rates[key] = float(value)
        latency = doc.get("latencyMs", 0)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise ValueError("latencyMs must be a non-negative number")
        seed = doc.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        status = doc.get("errorStatus", 500)
        if status not in ERROR_STATUSES:
            raise ValueError(f"errorStatus must be one of {sorted(ERROR_STATUSES)}")
        scope = doc.get("faultsOn", "all")
        if scope not in SCOPES:
            raise ValueError(f"faultsOn must be one of {list(SCOPES)}")
        return cls(
            rates["errorRate"],
            rates["rateLimitRate"],
            rates["dropAfterWriteRate"],
            float(latency),
            seed,
            rates["dropRate"],
            status,
            scope,
        )

    def to_json(self) -> dict[str, Any]:
        """Render as the control API shows it."""
        return {
            "errorRate": self.error_rate,
            "rateLimitRate": self.rate_limit_rate,
            "dropAfterWriteRate": self.drop_after_write_rate,
            "dropRate": self.drop_rate,
            "latencyMs": self.latency_ms,
            "seed": self.seed,
            "errorStatus": self.error_status,
            "faultsOn": self.scope,
        }

    @property
    def active(self) -> bool:
        """True when any fault can happen."""
        return bool(
            self.error_rate
            or self.rate_limit_rate
            or self.drop_after_write_rate
            or self.drop_rate
            or self.latency_ms
        )


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request."""

    error: bool = False
    rate_limited: bool = False
    drop_after_write: bool = False
    drop: bool = False
    latency_seconds: float = 0.0
    error_status: int = 500


class Faults:
    """Draws fault decisions; with a seed the sequence of decisions is reproducible.

    Each API request draws exactly three numbers, and one more from a stream of its own for a
    drop before the request (so that adding it changed no seeded sequence), so the n-th request
    gets the same decisions whatever happened before it.
    """

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and restart the random sequence."""
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)
            self._drops = random.Random(None if config.seed is None else ~config.seed)

    def decide(self, *, is_write: bool) -> FaultDecision:
        """Return the faults for the next API request."""
        config = self.config
        if not config.active:
            return FaultDecision()
        with self._lock:
            draws = [self._random.random() for _ in range(3)] + [self._drops.random()]
        if config.scope != "all" and is_write != (config.scope == "writes"):
            return FaultDecision()
        return FaultDecision(
            error=draws[0] < config.error_rate,
            rate_limited=draws[1] < config.rate_limit_rate,
            drop_after_write=is_write and draws[2] < config.drop_after_write_rate,
            drop=draws[3] < config.drop_rate,
            latency_seconds=config.latency_ms / 1000.0,
            error_status=config.error_status,
        )


@dataclass
class RateLimiter:
    """Sliding one-minute window of request times per token."""

    limit: int
    clock: Any = time.monotonic
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, limit: int | None = None) -> None:
        """Forget every window, optionally changing the limit."""
        with self._lock:
            if limit is not None:
                self.limit = limit
            self._windows.clear()

    def full_allowance(self) -> dict[str, str]:
        """The X-RateLimit headers of a request that is not counted: the whole allowance."""
        limit = str(_reported(self.limit))
        return {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": limit}

    def acquire(self, token: str) -> dict[str, str]:
        """Count one request for ``token``; return the X-RateLimit headers.

        Raises:
            ApiError: 429 ``too_many_requests`` with Retry-After when the window is full.
        """
        limit = self.limit
        if limit <= 0:
            return self.full_allowance()
        now = self.clock()
        with self._lock:
            window = self._windows.setdefault(token, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                retry_after = max(1, math.ceil(window[0] + WINDOW_SECONDS - now))
                raise too_many_requests(limit, retry_after)
            window.append(now)
            remaining = limit - len(window)
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}


def too_many_requests(limit: int, retry_after: int) -> ApiError:
    """Webflow's 429 answer with its headers."""
    return ApiError(
        429,
        "too_many_requests",
        "Too Many Requests",
        headers={
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(_reported(limit)),
            "X-RateLimit-Remaining": "0",
        },
    )


def _reported(limit: int) -> int:
    """The limit as X-RateLimit-Limit reports it: UNLIMITED when limiting is off."""
    return limit if limit > 0 else UNLIMITED
