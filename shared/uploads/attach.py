"""The CMS side of an upload: the asset set on the item its metadata or path names (checked against
the collection's schema), or a new item in INGEST_COLLECTION_ID."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Any

from shared.cms.values import is_item_id, slugify
from shared.core.filetypes import (
    FILE_FIELD_TYPES,
    META_ALT,
    META_ITEM_ID,
    extension_of,
    extensions_for,
)
from shared.core.storage import (
    ObjectInfo,
)
from shared.uploads.settings import UploadSettings
from shared.uploads.targets import (
    PermanentUploadError,
    Target,
    UploadOutcome,
    display_name,
    parse_target_path,
    target_from_metadata,
)
from shared.webflow.errors import (
    NotFoundError,
    WebflowConnectionError,
)
from shared.webflow.failures import is_transient

if TYPE_CHECKING:
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection, Item

__all__ = ["META_INGESTED_ITEM", "attach_asset", "check_target", "ingest_asset"]

META_INGESTED_ITEM = "webflow-ingested-item-id"


def _image_value(asset_id: str, hosted_url: str | None, alt: str | None) -> dict[str, Any]:
    """An Image / File field value."""
    value: dict[str, Any] = {"fileId": asset_id, "url": hosted_url}
    if alt:
        value["alt"] = alt
    return value


def attach_asset(
    client: WebflowClient,
    info: ObjectInfo,
    prefix: str,
    asset_id: str,
    hosted_url: str | None,
    settings: UploadSettings,
    outcome: UploadOutcome,
) -> bool:
    """Set the named item's field to the asset, or create an item in the ingest collection.

    Returns:
        True when the object named no item and an item was created for it.
    """
    alt = info.meta(META_ALT)
    target = target_from_metadata(info) or parse_target_path(info.name, prefix)
    value = _image_value(asset_id, hosted_url, alt)
    if target is not None:
        collection = _resolve_collection(client, target.collection, settings.webflow_site_id)
        if collection.id not in settings.attachable_collections:
            raise _not_attachable(collection.id)
        _set_field(client, collection, target, value, extension_of(info.name), outcome)
        return False
    if not settings.ingest_collection_id:
        return False
    ingest_asset(
        client, settings.ingest_collection_id, settings.ingest_image_field, info, value, outcome
    )
    return True


def _not_attachable(collection: str) -> PermanentUploadError:
    return PermanentUploadError(
        f"collection {collection} is not one upload-asset attaches to (UPLOAD_COLLECTION_IDS)"
    )


def check_target(info: ObjectInfo, prefix: str, settings: UploadSettings) -> None:
    """Refuse, before anything is uploaded, a malformed item id or a collection id not allowed.

    A collection named by slug is checked once resolved, in :func:`attach_asset`.
    """
    target = target_from_metadata(info) or parse_target_path(info.name, prefix)
    if target is not None and target.item_id is not None and not is_item_id(target.item_id):
        raise PermanentUploadError(f"{META_ITEM_ID} is not a Webflow id")
    if (
        target is not None
        and is_item_id(target.collection)
        and target.collection not in settings.attachable_collections
    ):
        raise _not_attachable(target.collection)


def _resolve_collection(client: WebflowClient, key: str, site_id: str | None) -> Collection:
    """A collection by id, or by slug among the site's collections."""
    if is_item_id(key):
        try:
            return client.get_collection(key)
        except NotFoundError:
            pass
    if site_id:
        for collection in client.list_collections(site_id):
            if collection.slug == key or collection.id == key:
                return client.get_collection(collection.id)
    raise PermanentUploadError(f"no collection {key!r}")


def _set_field(
    client: WebflowClient,
    collection: Collection,
    target: Target,
    value: dict[str, Any],
    ext: str,
    outcome: UploadOutcome,
) -> None:
    """Write the asset into the item's Image (replace), MultiImage (append) or File field."""
    field = collection.field(target.field)
    numbered = re.fullmatch(r"(.+)-\d+", target.field)
    if field is None and numbered:
        # create-items names a MultiImage field's second file <field>-2.<ext>, and so on.
        field = collection.field(numbered.group(1))
    if field is None:
        raise PermanentUploadError(f"collection {collection.id} has no field {target.field!r}")
    if field.type not in FILE_FIELD_TYPES:
        raise PermanentUploadError(
            f"field {target.field!r} is a {field.type} field, not Image, MultiImage or File"
        )
    if ext not in extensions_for(field.type):
        raise PermanentUploadError(
            f"a .{ext} file cannot go into the {field.type} field {target.field!r}"
        )
    item = _find_item(client, collection.id, target)
    new_value: Any = value
    if field.type == "MultiImage":
        current = [v for v in (item.field_data.get(field.slug) or []) if isinstance(v, dict)]
        # None: appended by an earlier attempt.
        new_value = None if _holds_file(current, value["fileId"]) else [*current, value]
    outcome.item_id, outcome.collection_id, outcome.field = item.id, collection.id, field.slug
    if new_value is not None:
        _update_item(client, collection.id, item.id, {field.slug: new_value})


def _find_item(client: WebflowClient, collection_id: str, target: Target) -> Item:
    """The staged item the target names."""
    if target.item_id:
        try:
            return client.get_item(collection_id, target.item_id)
        except NotFoundError as exc:
            raise PermanentUploadError(
                f"no item {target.item_id} in collection {collection_id}"
            ) from exc
    assert target.item_slug is not None
    item = client.find_item_by_slug(collection_id, target.item_slug)
    if item is None:
        raise PermanentUploadError(
            f"no item with slug {target.item_slug!r} in collection {collection_id}"
        )
    return item


def _update_item(
    client: WebflowClient, collection_id: str, item_id: str, field_data: dict[str, Any]
) -> None:
    """Patch one staged item through the shared update code; a refused patch is permanent."""
    from shared.cms.updates import ItemPatch, UpdateItemsRequest, update_items

    request = UpdateItemsRequest(items=[ItemPatch(id=item_id, field_data=field_data)])
    (result,) = update_items(client, collection_id, request, [field_data]).results
    if result.status == "updated":
        return
    error = result.error
    message = error.message if error is not None else result.status
    status = error.status_code if error is not None else None
    unavailable = error is not None and error.code == "upstream_unavailable"
    if unavailable or (status is not None and (status >= 500 or status in (401, 403, 408, 429))):
        # A per-item failure the update code reported instead of raising: retryable.
        raise WebflowConnectionError(f"Webflow failed to update the item: {message}")
    raise PermanentUploadError(f"Webflow refused to update item {item_id}: {message}")


def ingest_asset(
    client: WebflowClient,
    collection_id: str,
    image_field: str,
    info: ObjectInfo,
    value: dict[str, Any],
    outcome: UploadOutcome,
) -> None:
    """Create an item for the file in the ingest collection through the shared create path.

    That path settles slug collisions by content: an item with the same name and file (a retry after a
    crash, since the asset is reused) is "existing", anything else moves to the next free -N slug.
    """
    from shared.cms.items import Prepared, send_items
    from shared.webflow.models import NewItem

    collection = client.get_collection(collection_id)
    field = collection.field(image_field)
    ext = extension_of(info.name)
    if field is None or field.type not in FILE_FIELD_TYPES:
        raise PermanentUploadError(
            f"ingest collection {collection_id} has no Image field {image_field!r}"
        )
    if ext not in extensions_for(field.type):
        raise PermanentUploadError(
            f"a .{ext} file cannot go into the {field.type} field {field.slug!r}"
        )
    base_slug = slugify(posixpath.basename(info.name).rpartition(".")[0]) or "file"
    stored = [value] if field.type == "MultiImage" else value
    item = NewItem(
        field_data={"name": display_name(info.name), "slug": base_slug, field.slug: stored},
        is_draft=False,
    )
    outcome.collection_id, outcome.field = collection_id, field.slug
    (result,), _retry_after = send_items(
        client, collection_id, [Prepared(0, item, base_slug)], live=False
    )
    if result.status in ("created", "existing") and result.id:
        outcome.item_id = result.id
        return
    error = result.error
    # Unavailable, or created-but-unconfirmed: a redelivery settles it (the slug finds the item).
    if error is not None and is_transient(error):
        raise WebflowConnectionError(f"Webflow failed to create the gallery item: {error.message}")
    raise PermanentUploadError(
        f"Webflow refused the gallery item: {error.message if error is not None else result.status}"
    )


def _holds_file(value: Any, file_id: str) -> bool:
    """True when an Image / MultiImage / File value refers to file_id."""
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, dict) and v.get("fileId") == file_id for v in values)
