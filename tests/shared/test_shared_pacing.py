"""Unit tests of shared.webflow.pacing with an injected clock."""

from __future__ import annotations

import threading

import pytest

from shared.webflow.pacing import PROBE_INTERVAL, SlidingWindowLimiter, limiter_for, reset_limiters


class FakeTime:
    """A clock whose sleep moves time forward instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _send(
    limiter: SlidingWindowLimiter, fake: FakeTime, headers: dict[str, str] | None = None
) -> float:
    """Acquire, 'send', complete; return the send time."""
    slot = limiter.acquire()
    sent = fake.now
    limiter.complete(slot, headers)
    return sent


def _max_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_burst_up_to_the_limit_then_waits_for_the_window() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(5, clock=fake.clock, sleep=fake.sleep)

    times = [_send(limiter, fake) for _ in range(6)]

    assert times[:5] == [1000.0] * 5
    assert times[5] == pytest.approx(1060.0)


def test_never_more_than_limit_in_any_sliding_minute_even_after_idle() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(10, clock=fake.clock, sleep=fake.sleep)
    times = []
    for burst in range(5):
        times += [_send(limiter, fake) for _ in range(7)]
        fake.now += 25 + burst  # idle spells of different lengths

    assert _max_in_any_window(times, 60.0) <= 10


def test_remaining_zero_after_own_requests_waits_for_the_window() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(2, clock=fake.clock, sleep=fake.sleep)

    _send(limiter, fake, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "1"})
    _send(limiter, fake, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0"})
    third = _send(limiter, fake, {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "1"})

    assert third == pytest.approx(1060.0)  # its own share is used up: no probe past it


def test_remaining_zero_without_retry_after_probes_after_a_short_interval() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)

    # Other clients of the token filled the server's window; the server does not say until when.
    _send(limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"})
    probe = limiter.acquire(max_wait=40)  # the client's retry budget: no PacingTimeout

    assert fake.now == pytest.approx(1000.0 + PROBE_INTERVAL)
    assert sum(fake.slept) < 2

    # The probe is refused with the moment a slot frees: the next request goes then.
    limiter.complete(
        probe, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "retry-after": "5"}
    )
    third = _send(limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"})

    assert third == pytest.approx(1006.0)


def test_probe_success_with_room_lets_requests_through() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)
    _send(limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"})

    times = [
        _send(limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": str(30 - n)})
        for n in range(5)
    ]

    assert times == [pytest.approx(1001.0)] * 5


def test_repeated_remaining_zero_probes_less_often() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)
    full = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"}
    _send(limiter, fake, full)

    probes = [_send(limiter, fake, full) for _ in range(6)]

    assert probes == [pytest.approx(t) for t in (1001, 1003, 1007, 1015, 1031, 1047)]


def test_one_probe_in_flight_at_a_time() -> None:
    from shared.webflow.pacing import PacingTimeout

    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)
    _send(limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0"})
    probe = limiter.acquire()

    # Until the probe's answer, nobody else goes: waiters give up at their deadline.
    with pytest.raises(PacingTimeout):
        limiter.acquire(max_wait=5)
    assert limiter.snapshot()["inFlight"] == 1

    limiter.complete(probe, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "10"})
    limiter.complete(limiter.acquire(max_wait=0))


def test_lower_server_limit_wins() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)

    times = [
        _send(limiter, fake, {"x-ratelimit-limit": "3", "x-ratelimit-remaining": str(2 - n)})
        for n in range(3)
    ]
    times.append(_send(limiter, fake))

    assert limiter.limit == 3
    assert times[3] == pytest.approx(1060.0)


def test_other_clients_use_of_the_token_is_counted() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(10, clock=fake.clock, sleep=fake.sleep)

    # The server has seen 8 requests although this process sent one.
    _send(limiter, fake, {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "2"})

    assert limiter.snapshot()["used"] == 8


def test_server_forgetting_frees_slots_when_nothing_in_flight() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(5, clock=fake.clock, sleep=fake.sleep)
    for _ in range(4):
        _send(limiter, fake, {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "4"})

    assert limiter.snapshot()["used"] == 1


def test_no_rate_limit_headers_on_success_turns_pacing_off() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(2, clock=fake.clock, sleep=fake.sleep)

    times = [_send(limiter, fake, {}) for _ in range(10)]

    assert times == [1000.0] * 10


def test_error_without_headers_keeps_pacing() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(2, clock=fake.clock, sleep=fake.sleep)

    for _ in range(2):
        limiter.complete(limiter.acquire(), {}, authoritative=False)
    third = _send(limiter, fake)

    assert third == pytest.approx(1060.0)


def test_in_flight_slots_count_until_completed() -> None:
    limiter = SlidingWindowLimiter(2)
    first, second = limiter.acquire(), limiter.acquire()
    acquired = threading.Event()

    def third() -> None:
        limiter.complete(limiter.acquire())
        acquired.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not acquired.wait(0.2)
    limiter.complete(first)
    limiter.complete(second)
    # Completed slots stay for the whole window: the third waits (real clock).
    assert not acquired.wait(0.2)
    limiter.window = 0.0
    with limiter._cond:
        limiter._cond.notify_all()
    assert acquired.wait(2.0)
    worker.join()


def test_limiter_is_shared_per_token() -> None:
    reset_limiters()

    first = limiter_for("token-a", 60)
    same = limiter_for("token-a", 120)
    other = limiter_for("token-b", 60)

    assert first is same
    assert first is not other
    assert first.configured_limit == 60
    reset_limiters()


def test_configured_limit_holds_when_the_server_allows_more() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(5, clock=fake.clock, sleep=fake.sleep)

    times = [
        _send(limiter, fake, {"x-ratelimit-limit": "120", "x-ratelimit-remaining": str(119 - n)})
        for n in range(6)
    ]

    assert times[5] == pytest.approx(1060.0)


def test_unlimited_server_advertising_a_huge_limit_never_slows_down() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(5, clock=fake.clock, sleep=fake.sleep)
    unlimited = {"x-ratelimit-limit": "100000", "x-ratelimit-remaining": "100000"}

    times = [_send(limiter, fake, unlimited) for _ in range(50)]

    assert times == [1000.0] * 50


def test_wait_longer_than_max_wait_raises_with_the_wait() -> None:
    from shared.webflow.pacing import PacingTimeout

    fake = FakeTime()
    limiter = SlidingWindowLimiter(1, clock=fake.clock, sleep=fake.sleep)
    _send(limiter, fake)
    fake.now += 20

    with pytest.raises(PacingTimeout) as info:
        limiter.acquire(max_wait=30)

    assert info.value.retry_after == pytest.approx(40.0)
    assert fake.slept == []
    assert limiter.snapshot()["used"] == 1


def test_wait_within_max_wait_proceeds() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(1, clock=fake.clock, sleep=fake.sleep)
    _send(limiter, fake)

    limiter.acquire(max_wait=61)

    assert fake.slept == [pytest.approx(60.0)]


def test_full_window_with_retry_after_frees_when_the_server_says() -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(60, clock=fake.clock, sleep=fake.sleep)

    _send(
        limiter, fake, {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "retry-after": "5"}
    )
    second = _send(limiter, fake)

    assert second == pytest.approx(1005.0)


def test_threads_sharing_a_limiter_stay_under_the_limit() -> None:
    import time

    limiter = SlidingWindowLimiter(4, window=0.4)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            slot = limiter.acquire()
            with lock:
                sent.append(time.monotonic())
            time.sleep(0.01)  # the request
            limiter.complete(slot)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent.sort()
    assert len(sent) == 12
    assert _max_in_any_window(sent, 0.4) <= 4
    assert sent[-1] - sent[0] >= 0.8  # twelve requests at four per 0.4 s need two more windows


def test_threads_wait_for_the_one_probe_s_answer() -> None:
    import time

    limiter = SlidingWindowLimiter(5)
    limiter.complete(limiter.acquire(), {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0"})
    got: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        slot = limiter.acquire(max_wait=10)
        with lock:
            got.append(slot)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(PROBE_INTERVAL + 0.5)

    assert len(got) == 1  # one probe, the others wait for its outcome
    limiter.complete(got[0], {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "3"})  # type: ignore[arg-type]
    for thread in threads:
        thread.join(timeout=5)
    assert len(got) == 3


def test_clients_of_the_same_token_share_one_limiter() -> None:
    from shared.webflow import WebflowClient

    reset_limiters()
    first = WebflowClient("shared-token-123456", base_url="http://a.test/v2")
    second = WebflowClient("shared-token-123456", base_url="http://b.test/v2")
    other = WebflowClient("another-token-123456", base_url="http://a.test/v2")

    assert first.limiter is second.limiter
    assert first.limiter is not other.limiter
    reset_limiters()


class SlidingMinuteServer:
    """A server-side sliding-minute limiter like Webflow's (and the sandbox's)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.arrivals: list[float] = []
        self.refused = 0

    def handle(self, now: float) -> dict[str, str]:
        self.arrivals = [t for t in self.arrivals if t > now - 60.0]
        if len(self.arrivals) >= self.limit:
            self.refused += 1
            return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": "0"}
        self.arrivals.append(now)
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.limit - len(self.arrivals)),
        }


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    configured=st.integers(min_value=1, max_value=40),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=5),  # latency to the server
            st.floats(min_value=0, max_value=5),  # latency back
            st.floats(min_value=0, max_value=70),  # idle before the next request
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_paced_client_never_meets_a_429_from_a_sliding_minute_server(
    limit: int, configured: int, steps: list[tuple[float, float, float]]
) -> None:
    fake = FakeTime()
    limiter = SlidingWindowLimiter(configured, clock=fake.clock, sleep=fake.sleep)
    server = SlidingMinuteServer(limit)

    for to_server, back, idle in steps:
        slot = limiter.acquire()
        fake.now += to_server
        headers = server.handle(fake.now)
        fake.now += back
        limiter.complete(slot, headers)
        fake.now += idle

    assert server.refused == 0
