"""Secrets the client learns (its token, a webhook's signing key), told to whoever masks them.

The client logs through the standard library and knows no formatter. The project's logging
subscribes here (shared/core/log.py), so a value the client holds is masked in every log line
without the client importing anything outside its package.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["announce", "subscribe"]

_lock = threading.Lock()
_known: list[str] = []
_listeners: list[Callable[[str], None]] = []


def announce(value: str | None) -> None:
    """Tell every listener (now and later) about a secret value; blanks are ignored."""
    if not value:
        return
    with _lock:
        if value not in _known:
            _known.append(value)
        listeners = list(_listeners)
    for listener in listeners:
        listener(value)


def subscribe(listener: Callable[[str], None]) -> None:
    """Call ``listener`` with every secret announced so far and with each one announced later."""
    with _lock:
        if listener in _listeners:
            return
        _listeners.append(listener)
        known = list(_known)
    for value in known:
        listener(value)
