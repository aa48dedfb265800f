"""Who is calling: the client's address behind a known number of proxies, the key it is limited by (an IPv6 client by its /64), and the per-instance limiter of form posts."""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable

import flask

from shared.core.config import MAX_TRUSTED_PROXIES
from shared.core.problems import TooManyRequests

__all__ = ["ClientRateLimiter", "client_address", "client_key"]

_MAX_CLIENT_KEY_CHARS = 100


def client_address(request: flask.Request, trusted_proxies: int = 0) -> str:
    """The client's X-Forwarded-For entry, ``trusted_proxies`` left of the last; else the peer.

    Google's front end appends the peer it saw to X-Forwarded-For; entries left of it are whatever
    the client sent (spoofable). With ``trusted_proxies`` proxies in front (1 behind an external
    Application Load Balancer, which appends ``<client IP>, <load balancer IP>``), the client is
    that many entries left of the last one. A header with fewer entries did not come through the
    proxies as configured, and any of its entries may be the client's own words: the socket peer is
    used then, which no client controls (such requests share its bucket rather than escape theirs).
    Entries are opaque keys: never resolved, parsed or validated, only trimmed and capped in length.
    """
    if not 0 <= trusted_proxies <= MAX_TRUSTED_PROXIES:
        raise ValueError(f"trusted_proxies must be between 0 and {MAX_TRUSTED_PROXIES}")
    forwarded = ",".join(request.headers.getlist("X-Forwarded-For"))
    # Proxies never append an empty entry: blanks ("a,,b", a trailing comma) are the client's.
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if len(entries) > trusted_proxies:
        return entries[-1 - trusted_proxies][:_MAX_CLIENT_KEY_CHARS]
    return request.remote_addr or "unknown"


def client_key(address: str) -> str:
    """The key a client is limited by: an IPv6 address's /64 (one subscriber's whole network:
    a client picks any address in it), an IPv4 address (an IPv4-mapped one too) as it is, and
    anything else (an opaque entry) as it came."""
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class ClientRateLimiter:
    """A sliding one-minute window per client (an IPv6 client by its /64), within this instance
    (memory bounded)."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._max_clients = max_clients
        self._clock = clock
        self._hits: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request of ``key``; raise 429 with Retry-After when over the limit."""
        if self.per_minute <= 0:
            return
        key = client_key(key)
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or collections.deque()
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            self._hits[key] = hits  # most recently seen last
            while len(self._hits) > self._max_clients:
                self._hits.popitem(last=False)
            if len(hits) >= self.per_minute:
                wait = max(1, math.ceil(60.0 - (now - hits[0])))
                raise TooManyRequests(
                    "rate_limited", "Too many submissions; try again later", retry_after=wait
                )
            hits.append(now)
