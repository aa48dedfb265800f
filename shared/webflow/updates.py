"""Update reconciliation: patches sent 100 at a time, a refused batch attributed to its items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import httpx

from shared.webflow.batches import (
    _detail_index,
    _halves,
    _reporting_partial,
)
from shared.webflow.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    WebflowAPIError,
)
from shared.webflow.items import (
    ItemReads,
)
from shared.webflow.models import (
    Item,
    ItemResult,
    ItemUpdate,
)
from shared.webflow.transport import (
    _chunks,
    _error_info,
    _json_object,
    _parse,
)


class ItemUpdates(ItemReads):
    """Updates in bulk, a refusal attributed to the items it names."""

    # ------------------------------------------------------------------ items: update, publish, delete
    def update_items(
        self, collection_id: str, updates: Sequence[ItemUpdate], *, live: bool = False
    ) -> list[ItemResult]:
        """PATCH items in requests of at most 100; one result per input, in input order.

        Webflow applies a PATCH all or nothing. A 400, 404 or 409 is pinned on the items it names
        (their id, or their index in the body); when it names none, the batch is halved and the
        halves sent again (a PATCH is idempotent) until each refused item stands alone. So a live
        update of items never published (409) fails those items alone, with code "conflict", and
        applies the others; it costs about 2*log2(n) extra requests per such item.

        Raises:
            WebflowError: on a failure that is not about particular items (auth, unknown collection,
                retries exhausted); its ``partial_results`` hold the items settled before it.
        """
        results: list[ItemResult | None] = [None] * len(updates)
        path = self._items_path(collection_id, live)
        indexed = list(enumerate(updates))
        with _reporting_partial(results):
            for chunk in _chunks(indexed):
                work: list[list[tuple[int, ItemUpdate]]] = [list(chunk)]
                while work:
                    batch = work.pop(0)
                    body = {"items": [update.to_api() for _, update in batch]}
                    try:
                        response = self._request("PATCH", path, json=body)
                    except (BadRequestError, NotFoundError, ConflictError) as exc:
                        work[:0] = _attribute_update_error(batch, exc, results)
                        continue
                    self._record_updated(batch, response, results)
        return [r for r in results if r is not None]

    @staticmethod
    def _record_updated(
        batch: Sequence[tuple[int, ItemUpdate]],
        response: httpx.Response,
        results: list[ItemResult | None],
    ) -> None:
        """Map a 2xx PATCH answer back to the batch's items."""
        raw = _json_object(response).get("items") or []
        returned = {doc.get("id"): doc for doc in raw if isinstance(doc, dict)}
        for position, (index, update) in enumerate(batch):
            doc = returned.get(update.id)
            if doc is None and position < len(raw) and len(raw) == len(batch):
                doc = raw[position]
            item = _parse(Item, doc, response) if isinstance(doc, dict) else None
            results[index] = ItemResult(index=index, status="updated", item=item)


def _attribute_update_error(
    batch: list[tuple[int, ItemUpdate]],
    exc: WebflowAPIError,
    results: list[ItemResult | None],
) -> list[list[tuple[int, ItemUpdate]]]:
    """Attribute a 400/404/409 of an update batch to its items; return batches still to send.

    Details that name an item by position (``items[3].fieldData.name``) settle it; an answer that
    names none is halved until each refusal is pinned on one item (a lone item refused is
    certainly the culprit). Message text is never read: it is not part of Webflow's contract.
    """
    status: Literal["not_found", "failed"] = (
        "not_found" if isinstance(exc, NotFoundError) else "failed"
    )
    flagged: dict[int, list[dict[str, Any]]] = {}
    for detail in exc.details:
        position = _detail_index(detail)
        if position is not None and 0 <= position < len(batch):
            flagged.setdefault(position, []).append(detail)
    if not flagged and len(batch) > 1:
        return _halves(batch)
    for position, entry in enumerate(batch):
        if position in flagged or not flagged:
            details = flagged.get(position) or exc.details
            info = _error_info(exc).model_copy(update={"details": details})
            results[entry[0]] = ItemResult(index=entry[0], status=status, error=info)
    rest = [entry for position, entry in enumerate(batch) if flagged and position not in flagged]
    return [rest] if rest else []
