"""What update-items, sync and the create path share without the create path's settings: the
call size, references resolved by slug or name, and a caller's collection looked up.

Kept apart from shared/cms/items.py so that update-items starts without building create-items'
settings class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.core.problems import Unprocessable
from shared.webflow.errors import NotFoundError

if TYPE_CHECKING:
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = ["MAX_ITEMS_PER_CALL", "ReferenceLookup", "collection_schema"]

MAX_ITEMS_PER_CALL = 10_000
_PAGE = 100


class ReferenceLookup:
    """Resolves references by slug or name to item ids: each referenced collection is read once
    per call (100 items a request) and indexed by slug and by name."""

    def __init__(self, client: WebflowClient) -> None:
        self._client = client
        self._indexes: dict[str, _ReferenceIndex] = {}

    def __call__(
        self, collection_id: str, references: Sequence[str]
    ) -> Mapping[str, str | tuple[str, ...]]:
        """{reference: id} for a slug, else a name, of one item; {reference: (slugs...)} for a
        name several items share; the references that name nothing are left out."""
        index = self._indexes.get(collection_id)
        if index is None:
            index = self._indexes[collection_id] = _ReferenceIndex.read(self._client, collection_id)
        resolved: dict[str, str | tuple[str, ...]] = {}
        for reference in references:
            found = index.find(reference)
            if found is not None:
                resolved[reference] = found
        return resolved


@dataclass
class _ReferenceIndex:
    """A collection's items by slug and by name (case and surrounding blanks aside)."""

    by_slug: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def read(cls, client: WebflowClient, collection_id: str) -> _ReferenceIndex:
        index = cls()
        offset = 0
        while True:
            page = client.list_items(collection_id, offset=offset, limit=_PAGE)
            for item in page.items:
                if item.slug:
                    index.by_slug[item.slug] = item.id
                if item.name:
                    key = item.name.strip().casefold()
                    index.by_name.setdefault(key, []).append((item.id, item.slug or item.id))
            offset += len(page.items)
            if not page.items or offset >= page.pagination.total:
                return index

    def find(self, reference: str) -> str | tuple[str, ...] | None:
        """The id of the item whose slug, else whose name, this is; candidates when ambiguous."""
        if reference in self.by_slug:
            return self.by_slug[reference]
        named = self.by_name.get(reference.strip().casefold(), [])
        if len(named) == 1:
            return named[0][0]
        return tuple(sorted(slug for _, slug in named)) if named else None


def collection_schema(
    client: WebflowClient, collection_id: str, *, named_by_caller: bool
) -> Collection:
    """The collection's schema; a collection the caller named that does not exist is a 422."""
    try:
        return client.get_collection(collection_id)
    except NotFoundError:
        if not named_by_caller:
            raise
        detail = {"field": "collectionId", "message": "is not a collection the function can reach"}
        raise Unprocessable("collection_not_found", "No such collection", [detail]) from None
