"""One function instance's state: its settings (read once), its Webflow client, what else it keeps
for the instance's life, and the one reset that forgets all of it (tests change the environment
between runs)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.core.config import WebflowSettings, load_settings

if TYPE_CHECKING:
    from shared.webflow import WebflowClient

__all__ = ["Instance"]

S = TypeVar("S", bound=WebflowSettings)
T = TypeVar("T")


class Instance(Generic[S]):
    """What one instance of a function keeps: ``settings()``, ``client()``, ``keep(...)``, ``reset()``.

    Args:
        settings_class: the function's settings, loaded from the environment on first use.
        client_options: WebflowClient keywords the settings give (e.g. publish-live's short retries).
    """

    def __init__(
        self,
        settings_class: type[S],
        *,
        client_options: Callable[[S], Mapping[str, Any]] | None = None,
    ) -> None:
        self._settings_class = settings_class
        self._client_options = client_options
        self._lock = threading.Lock()
        self._settings: S | None = None
        self._kept: dict[Callable[[S], Any], Any] = {}

    def settings(self) -> S:
        """The instance's settings, read once (ConfigError naming what is wrong)."""
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = load_settings(self._settings_class)
        return self._settings

    def client(self) -> WebflowClient:
        """The process-wide Webflow client for these settings' token."""
        from shared.webflow import get_client

        settings = self.settings()
        options = dict(self._client_options(settings)) if self._client_options else {}
        return get_client(settings, **options)

    def keep(self, factory: Callable[[S], T]) -> T:
        """What ``factory`` makes of the settings, made once per instance (until ``reset``)."""
        settings = self.settings()
        with self._lock:
            if factory not in self._kept:
                self._kept[factory] = factory(settings)
            kept: T = self._kept[factory]
            return kept

    def reset(self) -> None:
        """Forget the settings, what was kept, and the process-wide clients and caches."""
        with self._lock:
            self._settings = None
            self._kept.clear()
        # Only the caches of modules already loaded: a reset must not load what a path never used.
        for module, name in (
            ("shared.webflow", "get_client"),
            ("shared.core.storage", "get_storage"),
        ):
            loaded = sys.modules.get(module)
            if loaded is not None:
                getattr(loaded, name).cache_clear()
        oidc = sys.modules.get("shared.core.oidc")
        if oidc is not None:
            oidc.certificates.clear()
