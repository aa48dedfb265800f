"""The CMS domain: callers' fields mapped onto a collection's schema, items created in bulk,
patched by id or slug, published, references resolved by slug or name, and sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_surface

if TYPE_CHECKING:
    from shared.cms.fields import (
        FieldError,
        FieldMapper,
        FieldValidationError,
        InputPath,
        is_empty,
        is_item_id,
        slugify,
    )
    from shared.cms.items import (
        CHUNK_SIZE,
        CreateItemsRequest,
        CreateOutcome,
        CreateResult,
        Prepared,
        ReferenceLookup,
        SlugKey,
        content_key,
        create_from_request,
        create_items,
        prepare_items,
        requested_collection,
        send_items,
    )
    from shared.cms.publishing import PublishRequest, PublishSettings, SitePublishGate, publish
    from shared.cms.settings import MappingSettings, PublicFieldSettings, map_entries
    from shared.cms.sync import SyncOptions, SyncOutcome, SyncRequest, sync_items
    from shared.cms.updates import (
        ItemPatch,
        UpdateItemsRequest,
        UpdateItemsSettings,
        apply_updates,
        update_items,
    )

__all__ = [
    "CHUNK_SIZE",
    "CreateItemsRequest",
    "CreateOutcome",
    "CreateResult",
    "FieldError",
    "FieldMapper",
    "FieldValidationError",
    "InputPath",
    "ItemPatch",
    "MappingSettings",
    "Prepared",
    "PublicFieldSettings",
    "PublishRequest",
    "PublishSettings",
    "ReferenceLookup",
    "SitePublishGate",
    "SlugKey",
    "SyncOptions",
    "SyncOutcome",
    "SyncRequest",
    "UpdateItemsRequest",
    "UpdateItemsSettings",
    "apply_updates",
    "content_key",
    "create_from_request",
    "create_items",
    "is_empty",
    "is_item_id",
    "map_entries",
    "prepare_items",
    "publish",
    "requested_collection",
    "send_items",
    "slugify",
    "sync_items",
    "update_items",
]

__getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "CHUNK_SIZE": "items",
        "CreateItemsRequest": "items",
        "CreateOutcome": "items",
        "CreateResult": "items",
        "FieldError": "fields",
        "FieldMapper": "fields",
        "FieldValidationError": "fields",
        "InputPath": "fields",
        "ItemPatch": "updates",
        "MappingSettings": "settings",
        "Prepared": "items",
        "PublicFieldSettings": "settings",
        "PublishRequest": "publishing",
        "PublishSettings": "publishing",
        "ReferenceLookup": "items",
        "SitePublishGate": "publishing",
        "SlugKey": "items",
        "SyncOptions": "sync",
        "SyncOutcome": "sync",
        "SyncRequest": "sync",
        "UpdateItemsRequest": "updates",
        "UpdateItemsSettings": "updates",
        "apply_updates": "updates",
        "content_key": "items",
        "create_from_request": "items",
        "create_items": "items",
        "is_empty": "fields",
        "is_item_id": "fields",
        "map_entries": "settings",
        "prepare_items": "items",
        "publish": "publishing",
        "requested_collection": "items",
        "send_items": "items",
        "slugify": "fields",
        "sync_items": "sync",
        "update_items": "updates",
    },
)
