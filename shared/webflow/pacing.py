"""Client-side pacing that keeps a token under Webflow's sliding-minute rate limit.

Webflow counts requests per token over a sliding minute. A classic token bucket (capacity = limit,
refilled at limit/60 per second) can let through up to twice the limit inside one sliding minute after
an idle spell, so it would run into 429s. This limiter keeps a log of the slots used in the last
``window`` seconds instead, and never has more than ``limit`` in it:

- a slot is taken before a request is sent and is held "in flight" (it never expires) until the
  answer arrives; it is then stamped with the time of the answer, which is no earlier than the
  moment the server counted it, so it frees locally no earlier than it frees on the server;
- the server's ``X-RateLimit-Limit`` lowers the limit when it is below the configured one, and
  ``X-RateLimit-Remaining`` pads the log when other clients of the same token used slots;
- Remaining 0 without Retry-After does not say when the server frees a slot (other clients' oldest
  request may leave its window in a second). Instead of assuming a whole window, the limiter lets
  one probe request through after ``PROBE_INTERVAL`` seconds (doubling, up to
  ``MAX_PROBE_INTERVAL``, while answers keep saying Remaining 0 without Retry-After); other
  requests wait for its answer. A 429 to the probe carries Retry-After, which then frees the padded
  slots exactly when the server says (and the client's retry honours it); a success with Remaining
  above 0 replaces the guess by the server's count. The probe never goes past this process's own
  share: only padded slots of unknown expiry are probed past, never slots it used itself;
- an answer without those headers means the server does not limit: pacing stays off until they
  come back (Webflow always sends them).

One limiter is shared by every client of the same token in the process (``limiter_for``).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from shared.webflow.retry import parse_retry_after

__all__ = ["PacingTimeout", "SlidingWindowLimiter", "Slot", "limiter_for", "reset_limiters"]

WINDOW_SECONDS = 60.0
PROBE_INTERVAL = 1.0
MAX_PROBE_INTERVAL = 16.0
_MIN_WAIT = 0.001


class PacingTimeout(Exception):
    """The wait for a free slot would be longer than the caller can afford."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit window full for {retry_after:.1f}s")
        self.retry_after = retry_after


class Slot:
    """One request's place in the window; in flight until completed."""

    __slots__ = ("sent", "time", "unknown")

    def __init__(self, stamp: float = math.inf, *, unknown: bool = False) -> None:
        self.time = stamp
        self.sent = math.inf  # when acquire handed it out
        # A padded slot whose expiry the server did not tell (Remaining 0 without Retry-After).
        self.unknown = unknown

    @property
    def in_flight(self) -> bool:
        """True while the request has not been answered."""
        return self.time == math.inf


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds, steered by the server's headers."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if limit <= 0:
            raise ValueError("limit must be a positive integer")
        self.configured_limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._server_limit: int | None = None
        self._server_unlimited = False
        self._slots: deque[Slot] = deque()
        self._cond = threading.Condition()
        self.probe_interval = PROBE_INTERVAL
        self._probe_at: float | None = None
        self._probe_slot: Slot | None = None

    @property
    def limit(self) -> int:
        """The limit in force: the configured one, lowered by the server's advertised one."""
        if self._server_limit is not None:
            return min(self.configured_limit, self._server_limit)
        return self.configured_limit

    def _probe_due(self) -> float | None:
        """When a probe may go, or None when the window is full for known reasons only."""
        if self._probe_at is None:
            return None
        unknown = sum(1 for slot in self._slots if slot.unknown)
        if unknown == 0 or len(self._slots) - unknown >= self.limit:
            return None
        return self._probe_at

    def _forget_unknown(self) -> None:
        """Drop the padded slots of unknown expiry: the server has told how things stand."""
        if any(slot.unknown for slot in self._slots):
            self._slots = deque(slot for slot in self._slots if not slot.unknown)
        self._probe_at = None
        self.probe_interval = PROBE_INTERVAL

    def _prune(self, now: float) -> None:
        """Drop completed slots older than the window (in-flight slots stay)."""
        if not self._slots:
            return
        horizon = now - self.window
        kept = [slot for slot in self._slots if slot.in_flight or slot.time > horizon]
        if len(kept) != len(self._slots):
            self._slots = deque(kept)

    def _wait_time(self, now: float) -> float | None:
        """Seconds until a slot frees, None when only a completion can free one."""
        completed = [slot.time for slot in self._slots if not slot.in_flight]
        if not completed:
            return None
        # Slots free in time order; the one that brings us under the limit is the excess-th oldest.
        completed.sort()
        excess = len(self._slots) - self.limit
        if excess >= len(completed):
            return None
        return max(completed[max(excess, 0)] + self.window - now, 0.0)

    def _take(self, now: float) -> Slot:
        """Hand out a new in-flight slot sent at ``now``."""
        slot = Slot()
        slot.sent = now
        self._slots.append(slot)
        return slot

    def acquire(self, max_wait: float | None = None) -> Slot:
        """Block until a request may be sent; return its slot (pass it to ``complete``).

        Raises:
            PacingTimeout: when the wait would exceed ``max_wait`` seconds (nothing is taken).
        """
        with self._cond:
            deadline = None if max_wait is None else self._clock() + max_wait
            while True:
                now = self._clock()
                self._prune(now)
                if self._server_unlimited or len(self._slots) < self.limit:
                    return self._take(now)
                delay = self._wait_time(now)
                probing = self._probe_due()
                if probing is not None:
                    if probing <= now and self._probe_slot is None:
                        self._probe_slot = self._take(now)
                        return self._probe_slot
                    delay = self._until_probe(probing, now, delay)
                if deadline is not None:
                    self._check_deadline(deadline, now, delay, probing)
                self._pause(self._bounded_delay(delay, deadline, now))

    def _until_probe(self, probing: float, now: float, delay: float | None) -> float | None:
        """The wait for a probe's answer (a completion notifies) or for its time."""
        if self._probe_slot is None:
            until = probing - now
            return until if delay is None else min(delay, until)
        return None if delay is None else min(delay, self.probe_interval)

    def _check_deadline(
        self, deadline: float, now: float, delay: float | None, probing: float | None
    ) -> None:
        """Raise PacingTimeout when no slot can be had before ``deadline``."""
        if delay is None and now >= deadline:
            raise PacingTimeout(self.window if probing is None else self.probe_interval)
        if delay is not None and now + delay > deadline:
            raise PacingTimeout(delay)

    @staticmethod
    def _bounded_delay(delay: float | None, deadline: float | None, now: float) -> float:
        """How long to wait before looking again."""
        if delay is None:
            delay = 1.0  # only a completion can free a slot; look again now and then
            if deadline is not None:
                delay = min(delay, deadline - now)
        # At least a millisecond, so that time moves past the slot's expiry whatever the
        # rounding of the clock's floats.
        return max(delay, _MIN_WAIT)

    def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds (the lock held by the caller is released meanwhile)."""
        if self._sleep is not None:
            self._cond.release()
            try:
                self._sleep(delay)
            finally:
                self._cond.acquire()
        else:
            # A completion or a server update notifies; a small margin covers timer jitter.
            self._cond.wait(delay + 0.01)

    def complete(
        self, slot: Slot, headers: Mapping[str, str] | None = None, *, authoritative: bool = True
    ) -> None:
        """Stamp ``slot`` with the answer's time and apply the server's rate-limit headers.

        ``authoritative`` is False for answers that may come from a gateway rather than the API
        (errors): their lack of rate-limit headers says nothing about the API's limit.
        """
        with self._cond:
            now = self._clock()
            slot.time = now
            probe = slot is self._probe_slot
            if probe:
                self._probe_slot = None
            if headers is not None:
                self._observe(headers, now, slot, authoritative, probe=probe)
            if probe and self._probe_at is not None and self._probe_at <= now:
                # The probe told nothing (no answer): the next one goes after another interval.
                self._probe_at = now + self.probe_interval
            self._cond.notify_all()

    def _observe(
        self,
        headers: Mapping[str, str],
        now: float,
        slot: Slot,
        authoritative: bool,
        *,
        probe: bool = False,
    ) -> None:
        remaining = self._server_counts(headers, authoritative)
        if remaining is None:
            return
        # The server counted at some moment after the send: slots of this log that expire
        # between then and now were in its count, so they are counted here too (not padded).
        self._prune(min(slot.sent, now))
        retry_after = parse_retry_after(headers.get("retry-after")) if remaining == 0 else None
        if remaining > 0 or retry_after is not None:
            self._forget_unknown()
        probing = any(s.unknown for s in self._slots)
        self._follow_server(remaining, retry_after, now, slot)
        if remaining == 0 and retry_after is None and any(s.unknown for s in self._slots):
            self._schedule_probe(now, probe=probe, probing=probing)

    def _server_counts(self, headers: Mapping[str, str], authoritative: bool) -> int | None:
        """Record the server's limit; return what it says remains (None when it says nothing)."""
        server_limit = _header_int(headers, "x-ratelimit-limit")
        remaining = _header_int(headers, "x-ratelimit-remaining")
        if (server_limit is None or server_limit <= 0) and remaining is None:
            if authoritative:
                self._server_unlimited = True
            return None
        self._server_unlimited = False
        if server_limit is not None and server_limit > 0:
            self._server_limit = server_limit
        return None if remaining is None else max(remaining, 0)

    def _follow_server(
        self, remaining: int, retry_after: float | None, now: float, slot: Slot
    ) -> None:
        """Bring this log in line with the server's count of the token's window."""
        in_flight = sum(1 for s in self._slots if s.in_flight)
        completed = len(self._slots) - in_flight
        # The server allows ``remaining`` more: keep at least limit - remaining slots used here.
        floor = max(self.limit - remaining, 0)
        # What the server actually counts in its window.
        counted = (self._server_limit or self.limit) - remaining
        if completed < floor:
            # Other clients of this token used slots: count them as used now (conservative). When
            # the window is full and the server says when a slot frees, they free at that moment;
            # when it does not say, a probe finds out (see the module's docstring).
            stamp = now
            if retry_after is not None:
                stamp = min(now, now - self.window + retry_after)
            unknown = remaining == 0 and retry_after is None
            for _ in range(floor - completed):
                self._slots.append(Slot(stamp, unknown=unknown))
        elif completed > counted and in_flight == 0:
            # The server counts fewer than we hold (its window moved on, or it was reset): with
            # nothing in flight its count is exact, so follow it, dropping our oldest slots.
            ordered = sorted(self._slots, key=lambda s: s.time)
            kept = ordered[completed - max(counted, floor) :]
            if slot not in kept:
                kept.append(slot)
            self._slots = deque(kept)

    def _schedule_probe(self, now: float, *, probe: bool, probing: bool) -> None:
        """The window is full and the server does not say when it frees: plan the next probe."""
        if probe:
            # The probe went through, yet the window is still full: probe less often.
            self.probe_interval = min(self.probe_interval * 2, MAX_PROBE_INTERVAL)
        if not probing:
            self.probe_interval = PROBE_INTERVAL
        if probe or not probing or self._probe_at is None:
            self._probe_at = now + self.probe_interval

    def snapshot(self) -> dict[str, int]:
        """Counts for diagnostics: slots used in the window, in flight, and the limit in force."""
        with self._cond:
            self._prune(self._clock())
            in_flight = sum(1 for s in self._slots if s.in_flight)
            return {"used": len(self._slots), "inFlight": in_flight, "limit": self.limit}


_registry_lock = threading.Lock()
_registry: dict[str, SlidingWindowLimiter] = {}


def limiter_for(token: str, limit: int) -> SlidingWindowLimiter:
    """The process-wide limiter of ``token``; the lowest limit asked for by its clients wins."""
    key = hashlib.sha256(token.encode()).hexdigest()
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = SlidingWindowLimiter(limit)
        elif limit < limiter.configured_limit:
            limiter.configured_limit = limit
        return limiter


def reset_limiters() -> None:
    """Forget every shared limiter (tests)."""
    with _registry_lock:
        _registry.clear()
