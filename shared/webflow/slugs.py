"""Who holds a slug: the one owner of that question, for the client and for the create path.

A slug is unique per collection, so it is the idempotency key of a create (docs/slugs.md). Two
places must learn who holds one, with as few requests as possible:

- the client, when a create's answer was lost: did our send create the items? Those are the
  newest of the collection, so the newest pages (sorted by creation) find them at once;
- the create path (shared/cms/items.py), when Webflow says a slug is taken: by the same item (an
  identical resubmission) or by another one (number the new item)? Many collisions list the whole
  collection once instead of one look-up each.

Both ask :class:`SlugHolders`, which remembers what it saw within one call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from shared.webflow.models import Item

if TYPE_CHECKING:
    from shared.webflow.items import ItemReads

__all__ = ["SlugHolders"]

PAGE_SIZE = 100


class SlugHolders:
    """Who holds a slug in one collection (in one locale), learnt within one call."""

    def __init__(
        self, client: ItemReads, collection_id: str, *, cms_locale_id: str | None = None
    ) -> None:
        self._client = client
        self._collection_id = collection_id
        self._locale = cms_locale_id
        self._holders: dict[str, Item | None] = {}
        self._recheck: set[str] = set()
        self._complete = False

    def remember(self, items: Iterable[Item]) -> None:
        """Record items known to exist."""
        for item in items:
            if item.slug:
                self._holders[item.slug] = item

    def taken(self, slug: str) -> None:
        """Webflow says ``slug`` is taken: an answer of "free" learnt earlier is stale."""
        if slug in self._holders and self._holders[slug] is None:
            del self._holders[slug]
        if slug not in self._holders:
            self._recheck.add(slug)

    def holder(self, slug: str) -> Item | None:
        """The item holding ``slug``, or None (one look-up unless already known)."""
        if slug in self._holders:
            return self._holders[slug]
        if self._complete and slug not in self._recheck:
            return None
        item = self._client.find_item_by_slug(self._collection_id, slug, cms_locale_id=self._locale)
        self._recheck.discard(slug)
        self._holders[slug] = item
        return item

    def preload(self, expected_lookups: int) -> None:
        """List the whole collection when that costs fewer requests than ``expected_lookups``."""
        if self._complete or expected_lookups < 2:
            return
        page = self._client.list_items(
            self._collection_id, limit=PAGE_SIZE, cms_locale_id=self._locale
        )
        self.remember(page.items)
        if math.ceil(page.pagination.total / PAGE_SIZE) - 1 > expected_lookups:
            return
        offset = len(page.items)
        while offset < page.pagination.total:
            more = self._client.list_items(
                self._collection_id, offset=offset, limit=PAGE_SIZE, cms_locale_id=self._locale
            )
            if not more.items:
                break
            self.remember(more.items)
            offset += len(more.items)
        self._complete = True

    def newest(self, slugs: Sequence[str], *, required: set[str]) -> dict[str, Item]:
        """Holders of ``slugs`` that were just created: the newest pages first, then one look-up
        per ``required`` slug (Webflow said it exists) not found there.

        Items created by a recent send are the newest of the collection, so one or two pages
        sorted by creation usually find them all. With two slugs or fewer, look-ups are cheaper.
        """
        wanted = set(slugs)
        found = {slug: item for slug in wanted if (item := self._holders.get(slug)) is not None}
        if len(wanted) > 2:
            pages = math.ceil(len(wanted) / PAGE_SIZE) + 1
            for page_number in range(pages):
                page = self._client.list_items(
                    self._collection_id,
                    offset=page_number * PAGE_SIZE,
                    limit=PAGE_SIZE,
                    cms_locale_id=self._locale,
                    sort_by="createdOn",
                    sort_order="desc",
                )
                self.remember(item for item in page.items if item.slug in wanted)
                for slug in wanted:
                    if (item := self._holders.get(slug)) is not None:
                        found[slug] = item
                if len(found) == len(wanted) or len(page.items) < PAGE_SIZE:
                    break
            missing = sorted(required - set(found))
        else:
            missing = sorted(wanted - set(found))
        for slug in missing:
            item = self.holder(slug)
            if item is not None:
                found[slug] = item
        return found
