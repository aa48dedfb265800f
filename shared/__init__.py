"""The code of the webflow-functions, by feature.

- ``shared.webflow``: the Webflow Data API v2 client, self-contained (its settings, errors,
  models, pacing, retries, TLS and failure classification);
- ``shared.core``: configuration, logging, the per-instance state, problems, Cloud Storage, the
  file types and Google-signed ID tokens;
- ``shared.cms``: the CMS domain: field mapping, creates, updates, publishing, references, sync;
- ``shared.web``: the HTTP edge: request parsing, API keys, CORS, error answers, forms, webhooks
  and spam protection;
- ``shared.intake``: the intake queue kept in Cloud Storage, its admission and its drain;
- ``shared.uploads``: upload-asset's pipeline: exactly-once ledger, image preparation, SVG checks.

Each package's ``__init__`` names its public surface; a name is imported from its module on first
use, so importing one module of a package never pulls in the rest (docs/architecture.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_surface"]


def lazy_surface(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562): each public name of ``names``
    ({name: module of the package}) is imported from its module on first use, then kept."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
