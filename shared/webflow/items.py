"""Collection schemas and item reads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from shared.webflow.models import (
    Collection,
    Item,
    ItemList,
)
from shared.webflow.transport import (
    MAX_ITEMS_PER_REQUEST,
    Transport,
    _json_object,
    _parse,
    api_path,
)


class ItemReads(Transport):
    """Collection schemas and item reads: what reconciliation looks things up with."""

    def get_collection(self, collection_id: str, *, refresh: bool = False) -> Collection:
        """GET /collections/{collection_id}: the schema, cached for ``schema_cache_ttl`` seconds."""
        seen = self._schemas.get(collection_id)
        if seen is not None and not refresh and self._clock() - seen[0] < self.schema_cache_ttl:
            return seen[1]
        # One fetch per collection at a time: the threads of a cold instance wait for it instead of
        # each spending a request of the token's quota on the same schema.
        stripe = int.from_bytes(hashlib.blake2b(collection_id.encode(), digest_size=2).digest())
        with self._schema_locks[stripe % len(self._schema_locks)]:
            cached = self._schemas.get(collection_id)
            if cached is not None and cached is not seen:
                return cached[1]  # fetched by another thread while this one waited
            now = self._clock()
            response = self._get(api_path("collections/{}", collection=collection_id))
            collection = _parse(Collection, _json_object(response), response)
            self._schemas[collection_id] = (now, collection)
            return collection

    def cached_collection(self, collection_id: str) -> tuple[float, Collection] | None:
        """(age in seconds, schema) of the cached schema however old it is; None when none is."""
        seen = self._schemas.get(collection_id)
        if seen is None:
            return None
        return max(0.0, self._clock() - seen[0]), seen[1]

    # ------------------------------------------------------------------ items: reads
    @staticmethod
    def _items_path(collection_id: str, live: bool) -> str:
        return api_path("collections/{}/items", collection=collection_id) + (
            "/live" if live else ""
        )

    def list_items(
        self,
        collection_id: str,
        *,
        live: bool = False,
        offset: int = 0,
        limit: int = MAX_ITEMS_PER_REQUEST,
        cms_locale_id: str | None = None,
        name: str | None = None,
        slug: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> ItemList:
        """One page of items (staged, or published with ``live``)."""
        params = {
            "offset": offset,
            "limit": limit,
            "cmsLocaleId": cms_locale_id,
            "name": name,
            "slug": slug,
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        response = self._get(self._items_path(collection_id, live), params)
        return _parse(ItemList, _json_object(response), response)

    def iter_items(
        self,
        collection_id: str,
        *,
        live: bool = False,
        cms_locale_id: str | None = None,
        **filters: Any,
    ) -> Iterator[Item]:
        """Every item across all pages."""
        offset = 0
        while True:
            page = self.list_items(
                collection_id,
                live=live,
                offset=offset,
                limit=MAX_ITEMS_PER_REQUEST,
                cms_locale_id=cms_locale_id,
                **filters,
            )
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.pagination.total:
                return

    def find_item_by_slug(
        self, collection_id: str, slug: str, *, cms_locale_id: str | None = None, live: bool = False
    ) -> Item | None:
        """The item whose slug is exactly ``slug``, or None."""
        page = self.list_items(collection_id, live=live, slug=slug, cms_locale_id=cms_locale_id)
        for item in page.items:
            if item.slug == slug:
                return item
        return None

    def get_item(
        self,
        collection_id: str,
        item_id: str,
        *,
        live: bool = False,
        cms_locale_id: str | None = None,
    ) -> Item:
        """GET one item (staged, or published with ``live``)."""
        path = api_path("collections/{}/items/{}", collection=collection_id, item=item_id) + (
            "/live" if live else ""
        )
        response = self._get(path, {"cmsLocaleId": cms_locale_id})
        return _parse(Item, _json_object(response), response)
