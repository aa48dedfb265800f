"""CMS item operations with Webflow's rules (July 2025 publishing model).

An item document is ``{id, collectionId, createdOn, variants}`` where ``variants`` maps each
cmsLocaleId the item exists in to ``{cmsLocaleId, createdOn, lastUpdated, lastPublished,
isDraft, isArchived, fieldData, live}``; ``live`` is the published snapshot
(``{fieldData, isArchived}``) or None when the variant is not published.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import ApiError, not_found, validation_error
from .ids import is_object_id, new_id, now_iso
from .store import Doc, State, Store
from .validation import Detail, FieldValidator

MAX_ITEMS_PER_REQUEST = 100
SORT_FIELDS = ("createdOn", "lastPublished", "lastUpdated", "name", "slug")


def duplicate_slug_detail(slug: str) -> Detail:
    """Webflow's detail for a slug that already exists in the collection and locale."""
    return {"param": "slug", "description": f"Unique value is already in database: '{slug}'"}


def render_item(item: Doc, locale_id: str, *, live: bool = False) -> Doc:
    """Render one locale variant of an item as the API answers it."""
    variant = item["variants"][locale_id]
    source = variant["live"] if live and variant["live"] is not None else variant
    return {
        "id": item["id"],
        "cmsLocaleId": locale_id,
        "lastPublished": variant["lastPublished"],
        "lastUpdated": variant["lastUpdated"],
        "createdOn": variant["createdOn"],
        "isArchived": source["isArchived"],
        "isDraft": variant["isDraft"],
        "fieldData": dict(source["fieldData"]),
    }


def live_snapshot(variant: Doc) -> Doc:
    """What publishing a variant puts on the live site: a copy of its content."""
    return {"fieldData": copy.deepcopy(variant["fieldData"]), "isArchived": variant["isArchived"]}


def require_items_list(body: Any, key: str = "items") -> list[Any]:
    """The non-empty list ``body[key]`` of at most 100 entries, else 400 validation_error."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise validation_error([{"param": key, "description": "Must be a list"}])
    entries: list[Any] = body[key]
    if not entries:
        raise validation_error([{"param": key, "description": "Must contain at least 1 item"}])
    if len(entries) > MAX_ITEMS_PER_REQUEST:
        raise validation_error(
            [
                {
                    "param": key,
                    "description": f"Must contain at most {MAX_ITEMS_PER_REQUEST} items",
                }
            ]
        )
    return entries


def _bool_field(entry: dict[str, Any], name: str, default: bool | None) -> bool | None:
    value = entry.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise validation_error([{"param": name, "description": "Must be a boolean"}])
    return value


class Cms:
    """Item operations on one store; every public method takes the store lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # (site id, asset id) -> hosted URL or None; set by the assets module
        self.asset_url: Callable[[str, str], str | None] = lambda site_id, asset_id: None

    # ------------------------------------------------------------------ helpers
    @property
    def _state(self) -> State:
        return self.store.state

    def site_locale_ids(self, collection: Doc) -> list[str]:
        """The cmsLocaleIds of a collection's site, primary first."""
        locales = self._state.sites[collection["siteId"]]["locales"]
        return [locales["primary"]["cmsLocaleId"]] + [
            loc["cmsLocaleId"] for loc in locales.get("secondary", [])
        ]

    def resolve_locale(self, collection: Doc, locale_id: Any, param: str = "cmsLocaleId") -> str:
        """Return ``locale_id`` or the primary one, rejecting ids the site does not have."""
        locale_ids = self.site_locale_ids(collection)
        if locale_id is None or locale_id == "":
            return locale_ids[0]
        if locale_id not in locale_ids:
            raise validation_error(
                [{"param": param, "description": f"Unknown cmsLocaleId: '{locale_id}'"}]
            )
        return str(locale_id)

    def resolve_locales(self, collection: Doc, locale_ids: str | None) -> list[str]:
        """Resolve a ``cmsLocaleId`` query value: one id or a comma-separated list."""
        if not locale_ids:
            return [self.resolve_locale(collection, None)]
        wanted = [part.strip() for part in locale_ids.split(",") if part.strip()]
        return list(dict.fromkeys(self.resolve_locale(collection, part) for part in wanted))

    def _reference_exists(self, collection_id: str, item_id: str) -> bool:
        return item_id in self._state.items.get(collection_id, {})

    def _validator(self, collection: Doc, skip_invalid_files: bool) -> FieldValidator:
        site_id = collection["siteId"]
        return FieldValidator(
            collection,
            self._reference_exists,
            skip_invalid_files=skip_invalid_files,
            asset_url=lambda asset_id: self.asset_url(site_id, asset_id),
        )

    def _item(self, collection: Doc, item_id: str) -> Doc:
        item = self._state.items.get(collection["id"], {}).get(item_id)
        if item is None:
            raise not_found("item_not_found", "Item")
        return item

    def _slug_owner(self, collection_id: str, locale_id: str, slug: str) -> str | None:
        return self._state.slugs.get((collection_id, locale_id), {}).get(slug)

    # ------------------------------------------------------------------ reads
    def list_items(
        self,
        collection: Doc,
        *,
        live: bool,
        locale_id: str | None,
        offset: int,
        limit: int,
        name: str | None = None,
        slug: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> Doc:
        """Answer a list request: ``{items, pagination}``."""
        with self.store.lock:
            locales = self.resolve_locales(collection, locale_id)
            items_by_id = self._state.items.get(collection["id"], {})
            candidates: Iterable[Doc]
            if slug is not None:
                owners = dict.fromkeys(
                    self._slug_owner(collection["id"], locale, slug) for locale in locales
                )
                candidates = [items_by_id[owner] for owner in owners if owner in items_by_id]
            else:
                candidates = items_by_id.values()
            rendered = []
            for item in candidates:
                for locale in locales:
                    variant = item["variants"].get(locale)
                    if variant is None or (live and variant["live"] is None):
                        continue
                    if name is not None and variant["fieldData"].get("name") != name:
                        continue
                    if slug is not None and variant["fieldData"].get("slug") != slug:
                        continue
                    rendered.append(render_item(item, locale, live=live))
        if sort_by is not None:
            # creation order breaks ties, so equal timestamps still sort the same every time
            order = {id(doc): index for index, doc in enumerate(rendered)}
            rendered.sort(
                key=lambda doc: (_sort_key(doc, sort_by), order[id(doc)]),
                reverse=sort_order == "desc",
            )
        elif sort_order == "desc":
            rendered.reverse()
        page = rendered[offset : offset + limit]
        return {
            "items": page,
            "pagination": {"limit": limit, "offset": offset, "total": len(rendered)},
        }

    def get_item(self, collection: Doc, item_id: str, *, live: bool, locale_id: str | None) -> Doc:
        """Answer GET .../items/{id} (or /live) for a locale."""
        with self.store.lock:
            item = self._item(collection, item_id)
            for locale in self.resolve_locales(collection, locale_id):
                variant = item["variants"].get(locale)
                if variant is not None and not (live and variant["live"] is None):
                    return render_item(item, locale, live=live)
            raise not_found("item_not_found", "Item")

    # ------------------------------------------------------------------ create
    def create_items(
        self,
        collection: Doc,
        entries: Sequence[Any],
        *,
        live: bool,
        skip_invalid_files: bool,
        locale_ids: Sequence[str] | None = None,
    ) -> list[Doc]:
        """Create items; all or nothing.

        Args:
            collection: the target collection.
            entries: item bodies ``{fieldData, isDraft?, isArchived?, cmsLocaleId?}``.
            live: publish at once (POST .../items/live).
            skip_invalid_files: drop invalid image/file values instead of failing.
            locale_ids: the bulk endpoint's cmsLocaleIds; each item gets a variant per id.

        Returns:
            One rendered item per created variant, in request order.
        """
        require_items_list({"items": list(entries)})
        with self.store.lock:
            validator = self._validator(collection, skip_invalid_files)
            planned: list[tuple[dict[str, Any], list[str], bool, bool]] = []
            errors: list[Detail] = []
            seen: set[tuple[str, str]] = set()
            for entry in entries:
                if not isinstance(entry, dict):
                    errors.append({"param": "items", "description": "Each item must be an object"})
                    continue
                field_data, problems = validator.validate(entry.get("fieldData"), partial=False)
                errors.extend(problems)
                is_draft = _bool_field(entry, "isDraft", False)
                is_archived = _bool_field(entry, "isArchived", False)
                if locale_ids is not None:
                    locales = [
                        self.resolve_locale(collection, loc, "cmsLocaleIds") for loc in locale_ids
                    ]
                else:
                    locales = [self.resolve_locale(collection, entry.get("cmsLocaleId"))]
                slug = field_data.get("slug")
                if isinstance(slug, str):
                    for locale in locales:
                        if (locale, slug) in seen or self._slug_owner(
                            collection["id"], locale, slug
                        ):
                            errors.append(duplicate_slug_detail(slug))
                            break
                    seen.update((locale, slug) for locale in locales)
                planned.append((field_data, locales, bool(is_draft), bool(is_archived)))
            if errors:
                raise validation_error(errors)
            created: list[Doc] = []
            with self.store.transaction():
                for field_data, locales, is_draft, is_archived in planned:
                    item = self._new_item(
                        collection, field_data, locales, is_draft, is_archived, live
                    )
                    self.store.put_item(item)
                    created.extend(render_item(item, loc, live=live) for loc in locales)
            return created

    def _new_item(
        self,
        collection: Doc,
        field_data: dict[str, Any],
        locales: Sequence[str],
        is_draft: bool,
        is_archived: bool,
        live: bool,
    ) -> Doc:
        stamp = now_iso()
        variants = {}
        for locale in dict.fromkeys(locales):
            variant = {
                "cmsLocaleId": locale,
                "createdOn": stamp,
                "lastUpdated": stamp,
                "lastPublished": stamp if live else None,
                "isDraft": False if live else is_draft,
                "isArchived": is_archived,
                "fieldData": copy.deepcopy(field_data),
                "live": None,
            }
            if live:
                variant["live"] = live_snapshot(variant)
            variants[locale] = variant
        return {
            "id": new_id(),
            "collectionId": collection["id"],
            "createdOn": stamp,
            "variants": variants,
        }

    # ------------------------------------------------------------------ update
    def update_items(
        self, collection: Doc, entries: Sequence[Any], *, live: bool, skip_invalid_files: bool
    ) -> list[Doc]:
        """Update staged (or live) items; all or nothing.

        A live update of an item that was never published is a 409 conflict.
        """
        with self.store.lock:
            validator = self._validator(collection, skip_invalid_files)
            errors: list[Detail] = []
            planned: list[tuple[Doc, str, dict[str, Any], Any, Any]] = []
            claimed: dict[tuple[str, str], str] = {}
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    errors.append({"param": "id", "description": "Each item needs an id"})
                    continue
                item = self._item(collection, entry["id"])
                locale = self.resolve_locale(collection, entry.get("cmsLocaleId"))
                variant = item["variants"].get(locale)
                if live and (variant is None or variant["lastPublished"] is None):
                    raise ApiError(
                        409,
                        "conflict",
                        f"Item {item['id']} has never been published: update the staged item "
                        "and publish it",
                    )
                field_data, problems = validator.validate(entry.get("fieldData", {}), partial=True)
                errors.extend(problems)
                is_draft = _bool_field(entry, "isDraft", None)
                is_archived = _bool_field(entry, "isArchived", None)
                slug = field_data.get("slug")
                if isinstance(slug, str):
                    owner = self._slug_owner(collection["id"], locale, slug)
                    other = claimed.get((locale, slug))
                    if (owner and owner != item["id"]) or (other and other != item["id"]):
                        errors.append(duplicate_slug_detail(slug))
                    claimed[(locale, slug)] = item["id"]
                planned.append((item, locale, field_data, is_draft, is_archived))
            if errors:
                raise validation_error(errors)
            updated: list[Doc] = []
            with self.store.transaction():
                for item, locale, field_data, is_draft, is_archived in planned:
                    updated.append(
                        self._apply_update(item, locale, field_data, is_draft, is_archived, live)
                    )
            return updated

    def _apply_update(
        self,
        item: Doc,
        locale: str,
        field_data: dict[str, Any],
        is_draft: bool | None,
        is_archived: bool | None,
        live: bool,
    ) -> Doc:
        # the current document: an earlier entry of the same request may have changed it
        item = copy.deepcopy(self._state.items[item["collectionId"]][item["id"]])
        stamp = now_iso()
        variant = item["variants"].get(locale)
        if variant is None:  # a new localized variant, starting from the primary content
            base = next(iter(item["variants"].values()))
            variant = copy.deepcopy(base) | {"cmsLocaleId": locale, "createdOn": stamp}
            variant["live"] = None
            variant["lastPublished"] = None
            item["variants"][locale] = variant
        variant["fieldData"].update(field_data)
        if is_draft is not None:
            variant["isDraft"] = is_draft
        if is_archived is not None:
            variant["isArchived"] = is_archived
        variant["lastUpdated"] = stamp
        if live:
            variant["live"] = live_snapshot(variant)
            variant["lastPublished"] = stamp
        self.store.put_item(item)
        return render_item(item, locale, live=live)

    # ------------------------------------------------------------------ publish
    def publish(self, collection: Doc, body: Any) -> Doc:
        """Publish items: ``{itemIds}`` or ``{items: [{id, cmsLocaleIds}]}``.

        Returns ``{publishedItemIds, errors}``; unknown ids are reported in ``errors``.
        """
        if isinstance(body, dict) and "itemIds" in body:
            ids = require_items_list(body, "itemIds")
            targets = [(item_id, None) for item_id in ids]
        else:
            entries = require_items_list(body, "items")
            targets = []
            for entry in entries:
                if not isinstance(entry, dict) or "id" not in entry:
                    raise validation_error(
                        [{"param": "items", "description": "Each item needs an id"}]
                    )
                targets.append((entry["id"], entry.get("cmsLocaleIds")))
        published: list[str] = []
        errors: list[str] = []
        with self.store.lock, self.store.transaction():
            stamp = now_iso()
            for item_id, locale_ids in targets:
                item = (
                    self._state.items.get(collection["id"], {}).get(item_id)
                    if isinstance(item_id, str)
                    else None
                )
                if item is None:
                    errors.append(f"Item not found: {item_id}")
                    continue
                item = copy.deepcopy(item)
                locales = (
                    [self.resolve_locale(collection, loc, "cmsLocaleIds") for loc in locale_ids]
                    if locale_ids
                    else list(item["variants"])
                )
                for locale in locales:
                    variant = item["variants"].get(locale)
                    if variant is None:
                        errors.append(f"Item {item_id} has no variant for cmsLocaleId {locale}")
                        continue
                    variant["live"] = live_snapshot(variant)
                    variant["isDraft"] = False
                    variant["lastPublished"] = stamp
                self.store.put_item(item)
                if item_id not in published:
                    published.append(item_id)
        return {"publishedItemIds": published, "errors": errors}

    def publish_site(self, site_id: str) -> int:
        """Publish every queued variant (isDraft false) of the site's collections.

        Returns the number of variants published.
        """
        count = 0
        with self.store.lock, self.store.transaction():
            stamp = now_iso()
            for collection in list(self._state.collections.values()):
                if collection["siteId"] != site_id:
                    continue
                for item in list(self._state.items.get(collection["id"], {}).values()):
                    queued = [
                        loc
                        for loc, variant in item["variants"].items()
                        if not variant["isDraft"]
                        and (
                            variant["lastPublished"] is None
                            or variant["lastUpdated"] > variant["lastPublished"]
                        )
                    ]
                    if not queued:
                        continue
                    item = copy.deepcopy(item)
                    for locale in queued:
                        variant = item["variants"][locale]
                        variant["live"] = live_snapshot(variant)
                        variant["lastPublished"] = stamp
                    self.store.put_item(item)
                    count += len(queued)
        return count

    # ------------------------------------------------------------------ unpublish / delete
    def unpublish(
        self, collection: Doc, targets: Sequence[tuple[str, Sequence[str] | None]]
    ) -> None:
        """Take items off the live site (isDraft true, lastPublished null)."""
        with self.store.lock:
            items = [(self._item(collection, item_id), locales) for item_id, locales in targets]
            with self.store.transaction():
                for item, locale_ids in items:
                    item = copy.deepcopy(item)
                    for locale in self._variant_locales(collection, item, locale_ids):
                        variant = item["variants"][locale]
                        variant["live"] = None
                        variant["lastPublished"] = None
                        variant["isDraft"] = True
                    self.store.put_item(item)

    def delete(self, collection: Doc, targets: Sequence[tuple[str, Sequence[str] | None]]) -> None:
        """Delete items (or only the given locale variants)."""
        with self.store.lock:
            items = [(self._item(collection, item_id), locales) for item_id, locales in targets]
            with self.store.transaction():
                for item, locale_ids in items:
                    if not locale_ids:
                        self.store.delete_item(item)
                        continue
                    remaining = copy.deepcopy(item)
                    for locale in self._variant_locales(collection, item, locale_ids):
                        remaining["variants"].pop(locale, None)
                    self.store.delete_item(item)
                    if remaining["variants"]:
                        self.store.put_item(remaining)

    def _variant_locales(
        self, collection: Doc, item: Doc, locale_ids: Sequence[str] | None
    ) -> list[str]:
        if not locale_ids:
            return list(item["variants"])
        locales = [self.resolve_locale(collection, loc, "cmsLocaleIds") for loc in locale_ids]
        return [loc for loc in locales if loc in item["variants"]]


def parse_targets(body: Any) -> list[tuple[str, list[str] | None]]:
    """Parse ``{items: [{id, cmsLocaleIds?}]}`` of the unpublish and delete calls."""
    entries = require_items_list(body, "items")
    targets: list[tuple[str, list[str] | None]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not is_object_id(entry.get("id")):
            raise validation_error([{"param": "items.id", "description": "Must be an item id"}])
        locale_ids = entry.get("cmsLocaleIds")
        if locale_ids is not None and not (
            isinstance(locale_ids, list) and all(isinstance(x, str) for x in locale_ids)
        ):
            raise validation_error(
                [{"param": "cmsLocaleIds", "description": "Must be a list of ids"}]
            )
        targets.append((entry["id"], locale_ids))
    return targets


def _sort_key(doc: Doc, sort_by: str) -> tuple[bool, str]:
    value = doc["fieldData"].get(sort_by) if sort_by in ("name", "slug") else doc.get(sort_by)
    return (value is None, str(value) if value is not None else "")
