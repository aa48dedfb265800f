"""Data API v2 endpoints: sites, collections and items."""

from __future__ import annotations

import math
import time
from typing import Any

from .cms import SORT_FIELDS, parse_targets, require_items_list
from .errors import ApiError, validation_error
from .faults import too_many_requests
from .ids import now_iso
from .routing import Request, Response, Route
from .server import App
from .store import Doc

# Webflow's "Create Items" (items/insert) counts every locale variant against its 100.
MAX_INSERT_VARIANTS = 100

SITE_PUBLISH_INTERVAL_SECONDS = 60.0
SITE_FIELDS = (
    "id", "workspaceId", "createdOn", "displayName", "shortName", "lastPublished", "lastUpdated",
    "previewUrl", "timeZone", "parentFolderId", "customDomains", "locales",
    "dataCollectionEnabled", "dataCollectionType",
)  # fmt: skip
COLLECTION_SUMMARY_FIELDS = (
    "id",
    "displayName",
    "singularName",
    "slug",
    "createdOn",
    "lastUpdated",
)
FIELD_KEYS = (
    "id",
    "isRequired",
    "isEditable",
    "type",
    "slug",
    "displayName",
    "helpText",
    "validations",
)


def render_site(site: Doc) -> Doc:
    """A site as GET /sites/{id} answers it."""
    return {key: site[key] for key in SITE_FIELDS if key in site}


def render_collection(collection: Doc) -> Doc:
    """A collection with its schema."""
    doc = {key: collection[key] for key in COLLECTION_SUMMARY_FIELDS}
    doc["fields"] = [
        {key: fld[key] for key in FIELD_KEYS if key in fld and fld[key] is not None}
        for fld in collection["fields"]
    ]
    return doc


class ItemsApi:
    """Handlers of the site, collection and item endpoints."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.cms = app.cms

    def routes(self) -> list[Route]:
        """The endpoints, literal paths before templated ones."""
        items = "/v2/collections/{collection_id}/items"
        return [
            Route("GET", "/v2/sites/{site_id}", self.get_site, scope="sites:read"),
            Route(
                "GET", "/v2/sites/{site_id}/collections", self.list_collections, scope="cms:read"
            ),
            Route("POST", "/v2/sites/{site_id}/publish", self.publish_site, scope="sites:write"),
            Route("GET", "/v2/collections/{collection_id}", self.get_collection, scope="cms:read"),
            Route("GET", items, self.list_items, scope="cms:read"),
            Route("POST", items, self.create_items, scope="cms:write"),
            Route("PATCH", items, self.update_items, scope="cms:write"),
            Route("DELETE", items, self.delete_items, scope="cms:write"),
            Route("GET", items + "/live", self.list_items_live, scope="cms:read"),
            Route("POST", items + "/live", self.create_items_live, scope="cms:write"),
            Route("PATCH", items + "/live", self.update_items_live, scope="cms:write"),
            Route("DELETE", items + "/live", self.unpublish_items, scope="cms:write"),
            Route("POST", items + "/bulk", self.create_bulk, scope="cms:write"),
            Route("POST", items + "/insert", self.insert_items, scope="cms:write"),
            Route("POST", items + "/publish", self.publish, scope="cms:write"),
            Route("GET", items + "/{item_id}", self.get_item, scope="cms:read"),
            Route("PATCH", items + "/{item_id}", self.update_item, scope="cms:write"),
            Route("DELETE", items + "/{item_id}", self.delete_item, scope="cms:write"),
            Route("GET", items + "/{item_id}/live", self.get_item_live, scope="cms:read"),
            Route("PATCH", items + "/{item_id}/live", self.update_item_live, scope="cms:write"),
            Route("DELETE", items + "/{item_id}/live", self.unpublish_item, scope="cms:write"),
        ]

    # ------------------------------------------------------------------ sites & collections
    def get_site(self, request: Request, site_id: str) -> Response:
        """GET /sites/{site_id}."""
        return Response.json(200, render_site(self.app.site_for(request, site_id)))

    def publish_site(self, request: Request, site_id: str) -> Response:
        """POST /sites/{site_id}/publish: one successful publish per minute per site."""
        site = self.app.site_for(request, site_id)
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            raise validation_error([{"param": "body", "description": "Must be an object"}])
        domain_ids = body.get("customDomains") or []
        subdomain = body.get("publishToWebflowSubdomain", False)
        known = {d["id"]: d for d in site.get("customDomains", [])}
        if not isinstance(domain_ids, list) or any(d not in known for d in domain_ids):
            raise ApiError(400, "invalid_domain", "Please send a valid custom domain ID")
        if not isinstance(subdomain, bool):
            raise validation_error(
                [{"param": "publishToWebflowSubdomain", "description": "Must be a boolean"}]
            )
        if not domain_ids and not subdomain:
            raise ApiError(400, "no_domains", "No domain IDs provided")
        with self.app.store.lock:
            last = self.app.site_publish_times.get(site_id)
            now = time.monotonic()
            if last is not None and now - last < SITE_PUBLISH_INTERVAL_SECONDS:
                raise too_many_requests(
                    self.app.limiter.limit, math.ceil(SITE_PUBLISH_INTERVAL_SECONDS - (now - last))
                )
            self.app.site_publish_times[site_id] = now
            with self.app.store.transaction():
                self.cms.publish_site(site_id)
                stamp = now_iso()
                self.app.store.put_site(dict(site, lastPublished=stamp))
        domains = [dict(known[d], lastPublished=stamp) for d in domain_ids]
        return Response.json(
            202,
            {
                "customDomains": domains,
                "publishToWebflowSubdomain": subdomain,
                "publishScope": "site",
            },
        )

    def list_collections(self, request: Request, site_id: str) -> Response:
        """GET /sites/{site_id}/collections."""
        self.app.site_for(request, site_id)
        collections = [
            {key: c[key] for key in COLLECTION_SUMMARY_FIELDS}
            for c in list(self.app.store.state.collections.values())
            if c["siteId"] == site_id
        ]
        return Response.json(200, {"collections": collections})

    def get_collection(self, request: Request, collection_id: str) -> Response:
        """GET /collections/{collection_id}: the schema."""
        return Response.json(
            200, render_collection(self.app.collection_for(request, collection_id))
        )

    # ------------------------------------------------------------------ lists and gets
    def _list(self, request: Request, collection_id: str, live: bool) -> Response:
        collection = self.app.collection_for(request, collection_id)
        limit = request.int_arg("limit", 100, minimum=1, maximum=100)
        offset = request.int_arg("offset", 0, minimum=0)
        sort_by = request.arg("sortBy")
        sort_order = request.arg("sortOrder")
        if sort_by is not None and sort_by not in SORT_FIELDS:
            raise validation_error(
                [{"param": "sortBy", "description": f"Must be one of {list(SORT_FIELDS)}"}]
            )
        if sort_order is not None and sort_order not in ("asc", "desc"):
            raise validation_error(
                [{"param": "sortOrder", "description": "Must be 'asc' or 'desc'"}]
            )
        page = self.cms.list_items(
            collection,
            live=live,
            locale_id=request.arg("cmsLocaleId"),
            offset=offset,
            limit=limit,
            name=request.arg("name"),
            slug=request.arg("slug"),
            sort_by=sort_by,
            sort_order=sort_order,
        )
        return Response.json(200, page)

    def list_items(self, request: Request, collection_id: str) -> Response:
        """GET /collections/{id}/items (staged)."""
        return self._list(request, collection_id, live=False)

    def list_items_live(self, request: Request, collection_id: str) -> Response:
        """GET /collections/{id}/items/live (published)."""
        return self._list(request, collection_id, live=True)

    def _get(self, request: Request, collection_id: str, item_id: str, live: bool) -> Response:
        collection = self.app.collection_for(request, collection_id)
        item = self.cms.get_item(
            collection, item_id, live=live, locale_id=request.arg("cmsLocaleId")
        )
        return Response.json(200, item)

    def get_item(self, request: Request, collection_id: str, item_id: str) -> Response:
        """GET /collections/{id}/items/{item_id}."""
        return self._get(request, collection_id, item_id, live=False)

    def get_item_live(self, request: Request, collection_id: str, item_id: str) -> Response:
        """GET /collections/{id}/items/{item_id}/live."""
        return self._get(request, collection_id, item_id, live=True)

    # ------------------------------------------------------------------ create
    def _create(self, request: Request, collection_id: str, live: bool) -> Response:
        collection = self.app.collection_for(request, collection_id)
        body = request.json()
        skip = request.bool_arg("skipInvalidFiles", True)
        if isinstance(body, dict) and "items" in body:
            entries = require_items_list(body)
            created = self.cms.create_items(collection, entries, live=live, skip_invalid_files=skip)
            return Response.json(202, {"items": created})
        if not isinstance(body, dict) or "fieldData" not in body:
            raise validation_error([{"param": "fieldData", "description": "Field is required"}])
        created = self.cms.create_items(collection, [body], live=live, skip_invalid_files=skip)
        return Response.json(202, created[0])

    def create_items(self, request: Request, collection_id: str) -> Response:
        """POST /collections/{id}/items: one item, or ``{items: [...]}``; staged."""
        return self._create(request, collection_id, live=False)

    def create_items_live(self, request: Request, collection_id: str) -> Response:
        """POST /collections/{id}/items/live: created and published."""
        return self._create(request, collection_id, live=True)

    def create_bulk(self, request: Request, collection_id: str) -> Response:
        """POST /collections/{id}/items/bulk: items across cmsLocaleIds."""
        collection = self.app.collection_for(request, collection_id)
        body = request.json()
        if not isinstance(body, dict) or "fieldData" not in body:
            raise validation_error([{"param": "fieldData", "description": "Field is required"}])
        field_data = body["fieldData"]
        datas = field_data if isinstance(field_data, list) else [field_data]
        if not datas:
            raise validation_error(
                [{"param": "fieldData", "description": "Must contain at least 1 item"}]
            )
        locale_ids = _locale_ids(body.get("cmsLocaleIds"), "cmsLocaleIds")
        shared = {key: body[key] for key in ("isDraft", "isArchived") if key in body}
        entries = [{"fieldData": data, **shared} for data in datas]
        created = self.cms.create_items(
            collection,
            entries,
            live=False,
            skip_invalid_files=request.bool_arg("skipInvalidFiles", True),
            locale_ids=locale_ids or [self.cms.site_locale_ids(collection)[0]],
        )
        return Response.json(202, {"items": created})

    def insert_items(self, request: Request, collection_id: str) -> Response:
        """POST /collections/{id}/items/insert ("Create Items", Webflow's newer endpoint):
        ``{items: [{fieldData, isDraft?, isArchived?, cmsLocaleIds?}]}``, each item in its own
        locales (the primary one by default), at most 100 item variants in all; staged."""
        collection = self.app.collection_for(request, collection_id)
        entries = require_items_list(request.json())
        primary = self.cms.site_locale_ids(collection)[0]
        groups: list[tuple[list[str], list[dict[str, Any]]]] = []
        variants = 0
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise validation_error(
                    [{"param": f"items[{index}]", "description": "Must be an object"}]
                )
            locale_ids = _locale_ids(entry.get("cmsLocaleIds"), f"items[{index}].cmsLocaleIds")
            locales = locale_ids or [primary]
            variants += len(locales)
            body = {k: v for k, v in entry.items() if k != "cmsLocaleIds"}
            if groups and groups[-1][0] == locales:
                groups[-1][1].append(body)
            else:
                groups.append((locales, [body]))
        if variants > MAX_INSERT_VARIANTS:
            raise validation_error(
                [
                    {
                        "param": "items",
                        "description": f"At most {MAX_INSERT_VARIANTS} items, counting every "
                        f"locale variant ({variants} given)",
                    }
                ]
            )
        created: list[Any] = []
        for locales, bodies in groups:
            created += self.cms.create_items(
                collection,
                bodies,
                live=False,
                skip_invalid_files=request.bool_arg("skipInvalidFiles", True),
                locale_ids=locales,
            )
        return Response.json(202, {"items": created})

    # ------------------------------------------------------------------ update
    def _update_many(self, request: Request, collection_id: str, live: bool) -> Response:
        collection = self.app.collection_for(request, collection_id)
        entries = require_items_list(request.json())
        updated = self.cms.update_items(
            collection,
            entries,
            live=live,
            skip_invalid_files=request.bool_arg("skipInvalidFiles", True),
        )
        return Response.json(200, {"items": updated})

    def update_items(self, request: Request, collection_id: str) -> Response:
        """PATCH /collections/{id}/items."""
        return self._update_many(request, collection_id, live=False)

    def update_items_live(self, request: Request, collection_id: str) -> Response:
        """PATCH /collections/{id}/items/live: 409 for an item never published."""
        return self._update_many(request, collection_id, live=True)

    def _update_one(
        self, request: Request, collection_id: str, item_id: str, live: bool
    ) -> Response:
        collection = self.app.collection_for(request, collection_id)
        body = request.json()
        if not isinstance(body, dict):
            raise validation_error([{"param": "body", "description": "Must be an object"}])
        entry = dict(body, id=item_id)
        updated = self.cms.update_items(
            collection,
            [entry],
            live=live,
            skip_invalid_files=request.bool_arg("skipInvalidFiles", True),
        )
        return Response.json(200, updated[0])

    def update_item(self, request: Request, collection_id: str, item_id: str) -> Response:
        """PATCH /collections/{id}/items/{item_id}."""
        return self._update_one(request, collection_id, item_id, live=False)

    def update_item_live(self, request: Request, collection_id: str, item_id: str) -> Response:
        """PATCH /collections/{id}/items/{item_id}/live."""
        return self._update_one(request, collection_id, item_id, live=True)

    # ------------------------------------------------------------------ publish / unpublish / delete
    def publish(self, request: Request, collection_id: str) -> Response:
        """POST /collections/{id}/items/publish -> 202 {publishedItemIds, errors}."""
        collection = self.app.collection_for(request, collection_id)
        return Response.json(202, self.cms.publish(collection, request.json()))

    def unpublish_items(self, request: Request, collection_id: str) -> Response:
        """DELETE /collections/{id}/items/live: unpublish."""
        collection = self.app.collection_for(request, collection_id)
        self.cms.unpublish(collection, parse_targets(request.json()))
        return Response.empty(204)

    def delete_items(self, request: Request, collection_id: str) -> Response:
        """DELETE /collections/{id}/items."""
        collection = self.app.collection_for(request, collection_id)
        self.cms.delete(collection, parse_targets(request.json()))
        return Response.empty(204)

    def unpublish_item(self, request: Request, collection_id: str, item_id: str) -> Response:
        """DELETE /collections/{id}/items/{item_id}/live."""
        collection = self.app.collection_for(request, collection_id)
        locale = request.arg("cmsLocaleId")
        self.cms.unpublish(collection, [(item_id, [locale] if locale else None)])
        return Response.empty(204)

    def delete_item(self, request: Request, collection_id: str, item_id: str) -> Response:
        """DELETE /collections/{id}/items/{item_id}."""
        collection = self.app.collection_for(request, collection_id)
        locale = request.arg("cmsLocaleId")
        self.cms.delete(collection, [(item_id, [locale] if locale else None)])
        return Response.empty(204)


__all__ = ["ApiError", "ItemsApi", "render_collection", "render_site"]


def _locale_ids(value: Any, param: str) -> list[str] | None:
    """A body's cmsLocaleIds: absent, or a non-empty list of ids; else 400 naming ``param``."""
    if value is not None and not (
        isinstance(value, list) and value and all(isinstance(x, str) for x in value)
    ):
        raise validation_error([{"param": param, "description": "Must be a list of ids"}])
    return value
