"""Pydantic models of the Webflow Data API v2 objects (extra fields allowed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from pydantic.alias_generators import to_camel

__all__ = [
    "Asset",
    "AssetUpload",
    "Collection",
    "ErrorInfo",
    "Field",
    "Item",
    "ItemList",
    "ItemPublish",
    "ItemResult",
    "ItemUpdate",
    "Locale",
    "NewItem",
    "Pagination",
    "PublishResult",
    "Site",
    "SiteLocales",
    "WebflowModel",
]


WEBFLOW_ID_PATTERN = r"^[0-9a-f]{24}$"
WebflowId = Annotated[str, StringConstraints(pattern=WEBFLOW_ID_PATTERN, strict=True)]
"""A Webflow object id (site, collection, item, locale, asset): 24 lowercase hex digits."""


class WebflowModel(BaseModel):
    """Base: snake_case attributes with camelCase aliases; unknown fields are kept."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        serialize_by_alias=True,
        defer_build=True,
    )

    def to_api(self) -> dict[str, Any]:
        """Dump with Webflow's camelCase names, omitting unset optional values."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Item(WebflowModel):
    """A CMS item (one locale variant)."""

    id: str
    cms_locale_id: str | None = None
    last_published: str | None = None
    last_updated: str | None = None
    created_on: str | None = None
    is_archived: bool = False
    is_draft: bool = False
    field_data: dict[str, Any] = PydanticField(default_factory=dict)

    @property
    def slug(self) -> str | None:
        """The item's slug from its field data."""
        value = self.field_data.get("slug")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        """The item's name from its field data."""
        value = self.field_data.get("name")
        return value if isinstance(value, str) else None


class Pagination(WebflowModel):
    """Offset pagination of a list answer."""

    limit: int = 100
    offset: int = 0
    total: int = 0


class ItemList(WebflowModel):
    """A page of items."""

    items: list[Item] = PydanticField(default_factory=list)
    pagination: Pagination = PydanticField(default_factory=Pagination)


class Field(WebflowModel):
    """A field of a collection schema."""

    id: str
    slug: str
    display_name: str | None = None
    type: str
    is_required: bool = False
    is_editable: bool = True
    validations: dict[str, Any] | None = None
    help_text: str | None = None


class Collection(WebflowModel):
    """A collection with its schema."""

    id: str
    display_name: str | None = None
    singular_name: str | None = None
    slug: str | None = None
    fields: list[Field] = PydanticField(default_factory=list)

    def field(self, slug: str) -> Field | None:
        """Return the field with this slug, or None."""
        for field in self.fields:
            if field.slug == slug:
                return field
        return None


class Locale(WebflowModel):
    """A site locale with its CMS locale id."""

    id: str
    cms_locale_id: str
    display_name: str | None = None
    tag: str | None = None
    primary: bool | None = None
    redirect: bool | None = None
    enabled: bool | None = None
    subdirectory: str | None = None


class SiteLocales(WebflowModel):
    """The primary and secondary locales of a site."""

    primary: Locale | None = None
    secondary: list[Locale] = PydanticField(default_factory=list)

    def all(self) -> list[Locale]:
        """Every locale, primary first."""
        return ([self.primary] if self.primary else []) + list(self.secondary)


class Site(WebflowModel):
    """A Webflow site."""

    id: str
    display_name: str | None = None
    short_name: str | None = None
    locales: SiteLocales = PydanticField(default_factory=SiteLocales)


class Asset(WebflowModel):
    """An asset of a site."""

    id: str
    content_type: str | None = None
    size: int | None = None
    site_id: str | None = None
    hosted_url: str | None = None
    original_file_name: str | None = None
    display_name: str | None = None
    alt_text: str | None = None
    last_updated: str | None = None
    created_on: str | None = None
    variants: list[dict[str, Any]] = PydanticField(default_factory=list)


class AssetUpload(WebflowModel):
    """The answer of the asset creation step: where and how to upload the bytes."""

    id: str
    upload_url: str
    upload_details: dict[str, str] = PydanticField(default_factory=dict)
    hosted_url: str | None = None
    asset_url: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    parent_folder: str | None = None


class PublishResult(WebflowModel):
    """The answer of an items publish: published ids and per-item errors."""

    published_item_ids: list[str] = PydanticField(default_factory=list)
    errors: list[Any] = PydanticField(default_factory=list)


class NewItem(WebflowModel):
    """An item to create."""

    field_data: dict[str, Any]
    is_draft: bool = False
    is_archived: bool = False
    cms_locale_ids: list[str] | None = None

    @property
    def slug(self) -> str | None:
        """The slug the item will be created with, if set."""
        value = self.field_data.get("slug")
        return value if isinstance(value, str) and value else None


class ItemUpdate(WebflowModel):
    """A change to an existing item."""

    id: str
    field_data: dict[str, Any] = PydanticField(default_factory=dict)
    is_draft: bool | None = None
    is_archived: bool | None = None
    cms_locale_id: str | None = None


class ItemPublish(WebflowModel):
    """An item to publish in its own locales (none: the primary locale, as with ``itemIds``)."""

    id: str
    cms_locale_ids: list[str] | None = None


class ErrorInfo(WebflowModel):
    """A per-item failure."""

    code: str
    message: str
    details: list[dict[str, Any]] = PydanticField(default_factory=list)
    status_code: int | None = None


class ItemResult(WebflowModel):
    """Outcome of one item of a multi-item call, at its input index."""

    index: int
    status: Literal["created", "existing", "updated", "not_found", "failed"]
    item: Item | None = None
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        """True unless the item failed or was not found."""
        return self.status not in ("failed", "not_found")
