"""The CMS domain's settings: how callers' fields map onto the collection (``MappingSettings``),
and which of them public input may write (``PublicFieldSettings``).

Each is a small class of its own on top of ``FunctionSettings``; a function's settings are
composed of those it reads (shared/intake/settings.py, the functions' main.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator

from shared.cms.fields import (
    ANY_FORM,
    FieldMapper,
    InputPath,
    field_list_setting,
    field_table_setting,
    parse_field_list,
    parse_field_table,
    parse_unmapped_policy,
)
from shared.cms.references import MAX_ITEMS_PER_CALL
from shared.core.config import ConfigError, FunctionSettings, split_list
from shared.core.log import get_logger
from shared.core.problems import Forbidden

__all__ = ["MappingSettings", "PublicFieldSettings"]

logger = get_logger(__name__)

# Settings of the web edge that open a public path: any of them set asks for FORM_FIELDS.
_PUBLIC_PATHS = ("webflow_webhook_secret", "allowed_origins", "form_success_url", "form_error_url")


class MappingSettings(FunctionSettings):
    """FIELD_MAP, FIELD_DEFAULTS, UNMAPPED_FIELDS and how items are created."""

    field_map: str | None = None
    field_defaults: str | None = None
    unmapped_fields: str | None = None
    create_as_draft: bool = False
    create_live: bool = False
    max_items_per_call: int = Field(default=MAX_ITEMS_PER_CALL, gt=0, le=MAX_ITEMS_PER_CALL)

    _mapper: FieldMapper | None = PrivateAttr(default=None)

    @field_validator("field_map", "field_defaults", mode="before")
    @classmethod
    def _json_table(cls, value: Any, info: ValidationInfo) -> Any:
        return field_table_setting(value, str(info.field_name).upper())

    @field_validator("unmapped_fields")
    @classmethod
    def _unmapped_policy(cls, value: str | None) -> str | None:
        try:
            parse_unmapped_policy(value)
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value

    def mapper(self) -> FieldMapper:
        """The field mapper FIELD_MAP, FIELD_DEFAULTS and UNMAPPED_FIELDS describe (built once)."""
        if self._mapper is None:
            self._mapper = FieldMapper.from_settings(self)
        return self._mapper


class PublicFieldSettings(MappingSettings):
    """FORM_FIELDS, FORM_NAMES and FORM_CREATE_AS_DRAFT: what form posts and webhooks may write."""

    form_names: str = ""
    form_fields: str | None = None
    form_create_as_draft: bool = True

    _public_mappers: dict[tuple[InputPath, str | None], FieldMapper] = PrivateAttr(
        default_factory=dict
    )

    @field_validator("form_fields", mode="before")
    @classmethod
    def _field_list(cls, value: Any) -> Any:
        return field_list_setting(value, "FORM_FIELDS")

    @model_validator(mode="after")
    def _public_fields_declared(self) -> PublicFieldSettings:
        if self.form_fields or map_entries(self.field_map):
            return self
        # A public path someone configured, with nothing saying which fields it may write.
        configured = [name.upper() for name in _PUBLIC_PATHS if is_set(getattr(self, name, None))]
        if configured:
            raise ValueError(
                f"FORM_FIELDS: is required with {', '.join(configured)}: the field slugs form "
                "posts and webhooks may write (comma-separated, or per form as JSON); "
                "FIELD_MAP's targets serve when it is set"
            )
        return self

    @property
    def form_name_filter(self) -> list[str]:
        """Webflow form names to accept (FORM_NAMES; empty accepts every form)."""
        return split_list(self.form_names)

    def public_fields(self, form_name: str | None = None) -> frozenset[str] | None:
        """The slugs a form post or a webhook of ``form_name`` may write; None when undeclared.

        FORM_FIELDS ("*" and the form's own list) when set, else the targets of FIELD_MAP's
        entries for the form. ``slug`` is never among them.
        """
        declared = parse_field_list(self.form_fields, "FORM_FIELDS")
        if not declared:
            declared = {
                form: frozenset(table.values()) for form, table in self.mapper().field_map.items()
            }
        if not any(declared.values()):
            return None
        allowed = declared.get(ANY_FORM, frozenset())
        if form_name is not None:
            allowed |= declared.get(form_name, frozenset())
        return allowed - {"slug"}

    def public_mapper(
        self, form_name: str | None = None, *, path: InputPath = "form"
    ) -> FieldMapper:
        """The mapper of public input: only the form's declared fields, with the UNMAPPED_FIELDS
        policy of ``path`` (built once per path and form).

        Raises:
            Forbidden: when no field is declared for public input at all.
        """
        mapper = self._public_mappers.get((path, form_name))
        if mapper is None:
            allowed = self.public_fields(form_name)
            if allowed is None:
                logger.warning("form input refused: FORM_FIELDS (or FIELD_MAP) is not set")
                raise Forbidden(
                    "forms_not_enabled",
                    "This function does not take form submissions",
                    [{"field": "body", "message": "no form fields are declared"}],
                )
            mapper = FieldMapper.from_settings(self, path=path).restricted_to(allowed)
            self._public_mappers[(path, form_name)] = mapper
        return mapper

    def public_draft(self) -> tuple[bool, bool]:
        """(default_draft, live) of public submissions: drafts unless FORM_CREATE_AS_DRAFT=false."""
        if self.form_create_as_draft:
            return True, False
        return self.create_as_draft, self.create_live


def is_set(value: Any) -> bool:
    """A setting given a value (a secret that is not blank)."""
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return bool(value)


def map_entries(field_map: Any) -> bool:
    """True when FIELD_MAP (as loaded) maps at least one name."""
    try:
        return any(parse_field_table(field_map, "FIELD_MAP").values())
    except ConfigError:
        return False  # reported under FIELD_MAP itself
