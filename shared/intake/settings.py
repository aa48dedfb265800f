"""The intake queue's settings (``IntakeSettings``), and create-items' settings composed of the
small classes it reads: field mapping and public fields (shared/cms/settings.py), files
(shared/core/config.py), forms and spam (shared/web/settings.py) and the queue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.cms.settings import map_entries
from shared.core.config import FunctionSettings, api_keys_of, blank_to_none, split_list
from shared.web.settings import FormPostSettings, SpamSettings

__all__ = ["CreateItemsSettings", "IntakeSettings"]


class IntakeSettings(FunctionSettings):
    """Where the queue is kept (INTAKE_BUCKET, else UPLOAD_BUCKET; INTAKE_PREFIX), how long a
    visitor waits for the schema, the queue's bounds, and whether posts are queued at all."""

    intake_bucket: str | None = None
    intake_prefix: str = "intake"
    intake_schema_wait_seconds: float = Field(default=2.0, ge=0, le=30)
    # Above these, form posts and async JSON calls get 503 (webhooks are still kept); 0: no cap.
    intake_max_pending: int = Field(default=10_000, ge=0)
    intake_max_pending_bytes: int = Field(default=1 << 30, ge=0)
    form_intake: Literal["queue", "sync"] = "queue"

    @field_validator("intake_bucket", mode="before")
    @classmethod
    def _blank_bucket_is_none(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("form_intake", mode="before")
    @classmethod
    def _intake_mode(cls, value: Any) -> Any:
        return str(value).strip().lower() if value is not None else "queue"

    @field_validator("intake_prefix")
    @classmethod
    def _intake_prefix_path(cls, value: str) -> str:
        value = value.strip().strip("/")
        if not value or any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a folder path such as 'intake'")
        return value

    @model_validator(mode="after")
    def _intake_has_a_bucket(self) -> IntakeSettings:
        public = bool(getattr(self, "form_fields", None)) or map_entries(
            getattr(self, "field_map", None)
        )
        bucket = self.intake_bucket or getattr(self, "upload_bucket", None)
        if self.form_intake == "queue" and public and not bucket:
            raise ValueError(
                "FORM_INTAKE: queue (the default) keeps form posts and webhooks in Cloud Storage: "
                "set INTAKE_BUCKET (or UPLOAD_BUCKET), or FORM_INTAKE=sync to write them to "
                "Webflow while the visitor waits"
            )
        return self


class CreateItemsSettings(IntakeSettings, SpamSettings, FormPostSettings):
    """Settings of create-items: its keys, and the small classes it reads."""

    create_items_api_keys: SecretStr | None = None
    sync_api_keys: SecretStr | None = None

    @property
    def api_keys(self) -> list[SecretStr]:
        """The accepted API keys (CREATE_ITEMS_API_KEYS, comma-separated)."""
        raw = self.create_items_api_keys.get_secret_value() if self.create_items_api_keys else ""
        return [SecretStr(key) for key in split_list(raw)]

    @property
    def sync_keys(self) -> list[SecretStr]:
        """Keys that may sync (create, patch, archive, delete, publish): SYNC_API_KEYS; locally,
        create-items' keys too."""
        return [
            SecretStr(key) for key in api_keys_of(self.sync_api_keys, self.create_items_api_keys)
        ]
