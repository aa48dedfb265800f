"""What the create and update reconciliation share: batch halves, detail indexes, partial results."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from shared.webflow.errors import (
    WebflowError,
)
from shared.webflow.models import (
    ItemResult,
)
from shared.webflow.transport import (
    T,
)

_INDEX_PARAM = re.compile(r"^(?:items|fieldData)?\s*[\[.](?P<index>\d+)[\].]")


def _detail_index(detail: Mapping[str, Any]) -> int | None:
    """The request-body index a detail names (``items[3].fieldData.name``), if any."""
    param = detail.get("param")
    if not isinstance(param, str):
        return None
    match = _INDEX_PARAM.match(param)
    return int(match.group("index")) if match else None


def _halves(batch: list[T]) -> list[list[T]]:
    """Split a batch in two (a single element stays whole)."""
    if len(batch) <= 1:
        return [batch] if batch else []
    middle = len(batch) // 2
    return [batch[:middle], batch[middle:]]


@contextlib.contextmanager
def _reporting_partial(results: Sequence[ItemResult | None]) -> Iterator[None]:
    """Attach the results settled so far to a WebflowError leaving the block."""
    try:
        yield
    except WebflowError as exc:
        exc.partial_results = [result for result in results if result is not None]
        raise
