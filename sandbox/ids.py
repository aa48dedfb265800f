"""Object ids and timestamps in Webflow's formats."""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import UTC, datetime

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_counter_lock = threading.Lock()
_process_random = os.urandom(5)


def new_id() -> str:
    """Return a fresh 24-hex object id (4-byte time, 5 random bytes, 3-byte counter)."""
    with _counter_lock:
        count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")).hex()


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and ``Z``."""
    return format_iso(datetime.now(UTC))


def format_iso(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_object_id(value: object) -> bool:
    """Tell whether ``value`` is a 24-character lowercase hex string."""
    if not isinstance(value, str) or len(value) != 24:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return value == value.lower()
