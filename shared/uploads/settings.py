"""upload-asset's settings: the prefixes it watches, what it takes, how it prepares images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator

from shared.core.config import FileSettings, api_keys_of, blank_to_none, split_list

if TYPE_CHECKING:
    from shared.uploads.imaging import ImageLimits

__all__ = ["UploadSettings"]


class UploadSettings(FileSettings):
    """Settings of upload-asset: the files' settings create-items shares (UPLOAD_BUCKET,
    UPLOAD_ALLOWED_EXTENSIONS, IMAGE_MAX_INPUT_BYTES) and its own."""

    # A list here (every prefix handled, "" all objects); form files go to the first.
    upload_prefix: str = Field(
        default="", description="Comma-separated object name prefixes to handle"
    )
    max_event_age_seconds: float = Field(default=86_400.0, gt=0)
    ingest_collection_id: str | None = None
    ingest_image_field: str = "image"
    upload_api_keys: SecretStr | None = None
    create_items_api_keys: SecretStr | None = None
    upload_claim_ttl_seconds: float = Field(default=600.0, gt=0)
    upload_chunk_size_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    storage_retry_seconds: float = Field(default=30.0, ge=0)
    upload_asset_folder: str | None = None
    upload_max_body_bytes: int = Field(default=16_384, gt=0)
    upload_collection_ids: str = ""
    # Images fitted to Webflow's limits (shared/uploads/imaging.py).
    image_output_format: Literal["jpeg", "webp"] = "jpeg"
    image_max_long_edge: int = Field(default=3200, ge=16, le=20_000)
    image_quality_floor: int = Field(default=60, ge=1, le=92)
    image_max_pixels: int = Field(default=50_000_000, ge=1_000_000, le=500_000_000)
    image_keep_tags: str = ""

    @field_validator("image_output_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        text = str(value).strip().lower() if value is not None else "jpeg"
        return "jpeg" if text == "jpg" else text

    @field_validator("image_keep_tags")
    @classmethod
    def _known_tags(cls, value: str) -> str:
        from shared.core.filetypes import EXIF_TAG_NAMES

        unknown = [name for name in split_list(value) if name not in EXIF_TAG_NAMES]
        if unknown:
            raise ValueError(
                f"names EXIF tags that are not kept: {', '.join(unknown[:5])} "
                f"(one of {', '.join(sorted(EXIF_TAG_NAMES))})"
            )
        return value

    def image_limits(self) -> ImageLimits:
        """What a prepared image must fit (shared/uploads/imaging.py)."""
        from shared.uploads.imaging import ImageLimits

        return ImageLimits(
            max_long_edge=self.image_max_long_edge,
            quality_floor=self.image_quality_floor,
            max_pixels=self.image_max_pixels,
            output_format=self.image_output_format,
            keep_tags=frozenset(split_list(self.image_keep_tags)),
        )

    @field_validator(
        "ingest_collection_id",
        "upload_asset_folder",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @property
    def prefixes(self) -> list[str]:
        """Object name prefixes handled ("" means every object)."""
        return split_list(self.upload_prefix)

    @property
    def attachable_collections(self) -> frozenset[str]:
        """Collections a file may be attached to: UPLOAD_COLLECTION_IDS, else the form's
        collection (WEBFLOW_COLLECTION_ID) and the gallery (INGEST_COLLECTION_ID)."""
        configured = split_list(self.upload_collection_ids)
        if configured:
            return frozenset(configured)
        return frozenset(
            value for value in (self.webflow_collection_id, self.ingest_collection_id) if value
        )

    @property
    def api_keys(self) -> list[str]:
        """Accepted API keys: UPLOAD_API_KEYS (CREATE_ITEMS_API_KEYS stands in only in a local run)."""
        return api_keys_of(self.upload_api_keys, self.create_items_api_keys)
