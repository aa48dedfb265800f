"""Create reconciliation: items sent 100 at a time, a refused batch split to find the items at
fault, and a create whose outcome is unknown settled by its slug, never sent twice successfully."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from shared.webflow.batches import (
    _detail_index,
    _halves,
    _reporting_partial,
)
from shared.webflow.errors import (
    BadRequestError,
    WebflowAPIError,
    WebflowConnectionError,
    WebflowError,
    WebflowTimeoutError,
    duplicate_slug_of,
    error_for_status,
)
from shared.webflow.items import (
    ItemReads,
)
from shared.webflow.models import (
    ErrorInfo,
    Item,
    ItemResult,
    NewItem,
)
from shared.webflow.slugs import SlugHolders
from shared.webflow.transport import (
    _AmbiguousWrite,
    _chunks,
    _error_info,
    _json_object,
    _parse,
    api_path,
    logger,
)


@dataclass
class _Pending:
    """An item of a create call still waiting for an outcome."""

    index: int
    item: NewItem
    maybe_ours: bool = False  # was in a send whose outcome is unknown


@dataclass
class _CreateRoute:
    """How a group of new items is sent: endpoint and shared bulk settings."""

    path: str
    bulk_locale_ids: list[str] | None = None
    is_draft: bool = False
    is_archived: bool = False

    def body(self, pending: Sequence[_Pending]) -> dict[str, Any]:
        """The request body for ``pending``."""
        if self.bulk_locale_ids is not None:
            return {
                "cmsLocaleIds": self.bulk_locale_ids,
                "isDraft": self.is_draft,
                "isArchived": self.is_archived,
                "fieldData": [p.item.field_data for p in pending],
            }
        return {
            "items": [
                {
                    "fieldData": p.item.field_data,
                    "isDraft": p.item.is_draft,
                    "isArchived": p.item.is_archived,
                }
                for p in pending
            ]
        }


def _outcome_unknown() -> ErrorInfo:
    """The failure of an item that Webflow may have created: its answer and the look-up failed."""
    return ErrorInfo(
        code="outcome_unknown",
        message="Webflow may have created the item: its answer was lost and the look-up failed",
    )


class ItemCreates(ItemReads):
    """Creates in bulk, with what a create whose answer was lost left behind settled by slug."""

    # ------------------------------------------------------------------ items: create
    def create_item(self, collection_id: str, item: NewItem, *, live: bool = False) -> Item:
        """Create one item; raises the typed error when it fails (never creates a duplicate)."""
        (result,) = self.create_items(collection_id, [item], live=live)
        if result.item is not None and result.status == "created":
            return result.item
        error = result.error or ErrorInfo(code="not_created", message="Item was not created")
        if error.status_code is None:
            if error.code == "timeout":
                raise WebflowTimeoutError(error.message)
            if error.code in ("connection_error", "not_created"):
                raise WebflowConnectionError(error.message)
        raise error_for_status(error.status_code or 400, error.code, error.message, error.details)

    def create_items(
        self, collection_id: str, items: Sequence[NewItem], *, live: bool = False
    ) -> list[ItemResult]:
        """Create items in requests of at most 100; one result per input, in input order.

        Items with ``cms_locale_ids`` go to the bulk endpoint (grouped by locales and flags). After a
        failure that leaves unknown whether a request was applied, the items are re-sent: a
        duplicate-slug answer for an item of that send means the first send created it (it is
        then fetched and reported "created"). A slug that already existed before is reported as
        failed with code "duplicate_slug". Validation errors are attributed to their items, and the
        other items of the request are sent again.

        Raises:
            WebflowError: on a failure that is not about particular items (auth, unknown collection,
                retries exhausted); its ``partial_results`` hold the items settled before it, the
                created ones included.
        """
        results: list[ItemResult | None] = [None] * len(items)
        seen_slugs: dict[str, int] = {}
        groups: dict[tuple[Any, ...], list[_Pending]] = {}
        for index, item in enumerate(items):
            slug = item.slug
            if slug is not None:
                first = seen_slugs.setdefault(slug, index)
                if first != index:
                    results[index] = ItemResult(
                        index=index,
                        status="failed",
                        error=ErrorInfo(
                            code="duplicate_slug",
                            message=f"Slug '{slug}' is repeated in the request (first at index {first})",
                            details=[
                                {"param": "slug", "description": f"Duplicate of item {first}"}
                            ],
                            status_code=None,
                        ),
                    )
                    continue
            if item.cms_locale_ids:
                key: tuple[Any, ...] = (
                    "bulk",
                    tuple(item.cms_locale_ids),
                    item.is_draft,
                    item.is_archived,
                )
            else:
                key = ("items",)
            groups.setdefault(key, []).append(_Pending(index, item))
        with _reporting_partial(results):
            for key, pending in groups.items():
                if key[0] == "bulk":
                    route = _CreateRoute(
                        api_path("collections/{}/items/bulk", collection=collection_id),
                        bulk_locale_ids=list(key[1]),
                        is_draft=key[2],
                        is_archived=key[3],
                    )
                else:
                    route = _CreateRoute(self._items_path(collection_id, live))
                for chunk in _chunks(pending):
                    self._create_chunk(collection_id, route, list(chunk), results)
        return [
            result
            if result is not None
            else ItemResult(
                index=index,
                status="failed",
                error=ErrorInfo(code="not_created", message="Webflow did not create the item"),
            )
            for index, result in enumerate(results)
        ]

    @staticmethod
    def _created(results: list[ItemResult | None], pending: _Pending, item: Item) -> None:
        results[pending.index] = ItemResult(index=pending.index, status="created", item=item)

    @staticmethod
    def _failed(results: list[ItemResult | None], pending: _Pending, error: ErrorInfo) -> None:
        results[pending.index] = ItemResult(index=pending.index, status="failed", error=error)

    def _create_chunk(
        self,
        collection_id: str,
        route: _CreateRoute,
        pending: list[_Pending],
        results: list[ItemResult | None],
    ) -> None:
        """Create one chunk (≤100 items) until every item has an outcome.

        When the chunk fails as a whole, an item of a send whose outcome stayed unknown (the
        look-up that would have told failed too) is reported failed with code "outcome_unknown"
        before the error leaves: a caller must not take it for unsent.
        """
        try:
            self._send_chunk(collection_id, route, pending, results)
        except WebflowError:
            for p in pending:
                if p.maybe_ours and results[p.index] is None:
                    self._failed(results, p, _outcome_unknown())
            raise

    def _send_chunk(
        self,
        collection_id: str,
        route: _CreateRoute,
        pending: list[_Pending],
        results: list[ItemResult | None],
    ) -> None:
        """Send one chunk, splitting and re-sending, until every item has an outcome or it fails."""
        budget = self._budget()
        work: list[list[_Pending]] = [pending]
        while work:
            batch = work.pop(0)
            if not batch:
                continue
            try:
                response = self._request(
                    "POST", route.path, json=route.body(batch), idempotent=False, budget=budget
                )
            except _AmbiguousWrite as exc:
                for p in batch:
                    p.maybe_ours = True
                delay = budget.next_delay()
                if delay is None:
                    self._settle_unknown(collection_id, route, batch, results, exc)
                    continue
                logger.warning(
                    "create outcome unknown; re-sending, duplicate slugs will tell what was applied",
                    extra={
                        "items": len(batch),
                        "failure": str(exc.cause),
                        "delaySeconds": round(delay, 3),
                    },
                )
                self._sleep(delay)
                work.insert(0, batch)
                continue
            except BadRequestError as exc:
                work[:0] = self._split_bad_request(collection_id, route, batch, exc, results)
                continue
            except (WebflowAPIError, WebflowConnectionError) as exc:
                # Not about particular items (auth, collection, exhausted retries): stop the call,
                # but items that may already exist are checked first so nothing is reported wrongly.
                if any(p.maybe_ours for p in batch):
                    self._settle_unknown(collection_id, route, batch, results, exc, reraise=True)
                raise
            self._record_created(route, batch, response, results)

    def _record_created(
        self,
        route: _CreateRoute,
        batch: Sequence[_Pending],
        response: httpx.Response,
        results: list[ItemResult | None],
    ) -> None:
        """Map a 2xx create answer back to the batch's items."""
        body = _json_object(response)
        raw = body.get("items") if "items" in body else [body]
        created = [_parse(Item, doc, response) for doc in raw or [] if isinstance(doc, dict)]
        if route.bulk_locale_ids is None and len(created) == len(batch):
            for p, item in zip(batch, created, strict=True):
                self._created(results, p, item)
            return
        # Bulk answers hold one variant per locale: pick each item's primary-requested variant.
        by_slug: dict[str, Item] = {}
        wanted = route.bulk_locale_ids[0] if route.bulk_locale_ids else None
        for item in created:
            if item.slug is None:
                continue
            current = by_slug.get(item.slug)
            if current is None or (
                item.cms_locale_id == wanted and current.cms_locale_id != wanted
            ):
                by_slug[item.slug] = item
        stride = max(len(created) // len(batch), 1) if batch else 1
        for position, p in enumerate(batch):
            match = by_slug.get(p.item.slug or "")
            if match is None and position * stride < len(created):
                match = created[position * stride]
            if match is None:
                self._failed(
                    results,
                    p,
                    ErrorInfo(code="missing_in_response", message="Item not in the answer"),
                )
            else:
                self._created(results, p, match)

    def _split_bad_request(
        self,
        collection_id: str,
        route: _CreateRoute,
        batch: list[_Pending],
        exc: BadRequestError,
        results: list[ItemResult | None],
    ) -> list[list[_Pending]]:
        """Attribute a 400 to the batch's items; return the batches still to send.

        Details that name a duplicate slug or an item's index settle those items; the items the
        answer does not name are sent again, halved until each error is pinned on one item (a
        lone item refused is certainly the culprit).
        """
        duplicates, flagged = _attribute(batch, exc)
        settled = self._settle_duplicates(collection_id, route, batch, duplicates, exc, results)
        for p in batch:
            if p.index in flagged and p.index not in settled:
                info = _error_info(exc).model_copy(update={"details": flagged[p.index]})
                self._failed(results, p, info)
                settled.add(p.index)
        rest = [p for p in batch if p.index not in settled]
        if not rest:
            return []
        if not settled:
            if len(rest) == 1:
                self._failed(results, rest[0], _error_info(exc))
                return []
            return _halves(rest)
        # Some items were named: the others go again as one batch, unless the answer also held
        # a detail it pinned on no item, which then halves them.
        unattributed = [d for d in exc.details if not _names_an_item(d, batch)]
        return _halves(rest) if unattributed else [rest]

    def _settle_duplicates(
        self,
        collection_id: str,
        route: _CreateRoute,
        batch: list[_Pending],
        duplicates: list[_Pending],
        exc: BadRequestError,
        results: list[ItemResult | None],
    ) -> set[int]:
        """Report the items whose slug was taken: created by an earlier send whose answer was
        lost (found by slug), else failed with duplicate_slug. Returns their indexes."""
        settled: set[int] = set()
        if any(p.maybe_ours for p in duplicates):
            # The send whose outcome was unknown probably created these: fetch what exists now.
            candidates = [p for p in batch if p.maybe_ours]
            found = self._find_by_slugs(
                collection_id,
                route,
                [p.item.slug for p in candidates if p.item.slug],
                required={p.item.slug for p in duplicates if p.maybe_ours and p.item.slug},
            )
            for p in candidates:
                item = found.get(p.item.slug or "")
                if item is not None and _same_item(p.item, item):
                    self._created(results, p, item)
                    settled.add(p.index)
        for p in duplicates:
            if p.index not in settled:
                self._failed(results, p, _duplicate_slug(p, exc))
                settled.add(p.index)
        return settled

    def _find_by_slugs(
        self,
        collection_id: str,
        route: _CreateRoute,
        slugs: Sequence[str],
        *,
        required: set[str],
    ) -> dict[str, Item]:
        """Items that exist now for ``slugs`` (just created, if at all): see SlugHolders.newest.

        The staged list is read: it holds live-created items too.
        """
        locale = route.bulk_locale_ids[0] if route.bulk_locale_ids else None
        holders = SlugHolders(self, collection_id, cms_locale_id=locale)
        return holders.newest(slugs, required=required)

    def _settle_unknown(
        self,
        collection_id: str,
        route: _CreateRoute,
        batch: Sequence[_Pending],
        results: list[ItemResult | None],
        exc: WebflowError,
        *,
        reraise: bool = False,
    ) -> None:
        """Retries are exhausted: report items that exist as created, the rest as failed."""
        candidates = [p for p in batch if p.maybe_ours and p.item.slug]
        slugs = [p.item.slug for p in candidates if p.item.slug]
        found = self._find_by_slugs(collection_id, route, slugs, required=set(slugs))
        for p in batch:
            item = found.get(p.item.slug or "") if p.maybe_ours else None
            if item is not None and _same_item(p.item, item):
                self._created(results, p, item)
            elif not reraise:
                self._failed(results, p, _error_info(exc))


def _attribute(
    batch: list[_Pending], exc: BadRequestError
) -> tuple[list[_Pending], dict[int, list[dict[str, Any]]]]:
    """The items whose slug a detail says is taken, and {item index: details} of those a detail
    names by position (``items[3].fieldData.name``)."""
    by_slug = {p.item.slug: p for p in batch if p.item.slug}
    duplicates: list[_Pending] = []
    flagged: dict[int, list[dict[str, Any]]] = {}
    for detail in exc.details:
        slug = duplicate_slug_of(detail)
        position = _detail_index(detail)
        if slug is not None and slug in by_slug:
            duplicates.append(by_slug[slug])
        elif position is not None and 0 <= position < len(batch):
            flagged.setdefault(batch[position].index, []).append(detail)
    return duplicates, flagged


def _names_an_item(detail: Mapping[str, Any], batch: Sequence[_Pending]) -> bool:
    """True when a detail names one of ``batch``'s slugs as taken, or an item by position."""
    slug = duplicate_slug_of(detail)
    return (slug is not None and any(p.item.slug == slug for p in batch)) or (
        _detail_index(detail) is not None
    )


def _duplicate_slug(pending: _Pending, exc: BadRequestError) -> ErrorInfo:
    return ErrorInfo(
        code="duplicate_slug",
        message=f"Unique value is already in database: '{pending.item.slug}'",
        details=[d for d in exc.details if duplicate_slug_of(d) == pending.item.slug],
        status_code=400,
    )


def _same_item(sent: NewItem, existing: Item) -> bool:
    """True when an existing item plausibly is the one we sent (same slug and name)."""
    name = sent.field_data.get("name")
    return existing.slug == sent.slug and (name is None or existing.name == name)
