"""Caller fields to CMS fields: mapping and validation against a schema (each value coerced by
shared/cms/values.py, whose names it hands on)."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared.cms.values import (
    SLUG_MAX_LENGTH,
    InvalidValue,
    as_list,
    coerce_value,
    is_empty,
    is_item_id,
    is_valid_slug,
    sanitize_html,
    slugify,
    text_value,
)
from shared.core.config import ConfigError
from shared.core.problems import InvalidInput
from shared.webflow.models import Collection, Field

__all__ = [
    "ANY_FORM",
    "SLUG_MAX_LENGTH",
    "FieldError",
    "FieldMapper",
    "FieldValidationError",
    "InputPath",
    "ReferenceResolver",
    "UnmappedPolicy",
    "closest_field",
    "coerce_value",
    "field_data_matches",
    "field_list_setting",
    "field_table_setting",
    "is_empty",
    "is_item_id",
    "is_valid_slug",
    "normalise_field_data",
    "parse_field_list",
    "parse_field_table",
    "parse_unmapped_policy",
    "sanitize_html",
    "slugify",
]

ANY_FORM = "*"
UnmappedPolicy = Literal["drop", "reject"]
InputPath = Literal["json", "form", "webhook"]
_POLICIES: dict[str, UnmappedPolicy] = {"drop": "drop", "reject": "reject"}
# A typo in an authenticated JSON call is refused (Webflow refuses unknown fields too); forms and
# webhooks carry submit buttons and trackers, which are dropped.
DEFAULT_UNMAPPED: dict[InputPath, UnmappedPolicy] = {
    "json": "reject",
    "form": "drop",
    "webhook": "drop",
}
# (referenced collection id, references) -> {reference: item id} for those that name one item (a
# slug, else a name), {reference: (candidate slugs...)} for a name several items share.
ReferenceResolver = Callable[[str, Sequence[str]], Mapping[str, str | tuple[str, ...]]]

# Fields Webflow fills itself or that the orchestration derives; never "required" from the caller.
_GENERATED_FIELDS = frozenset({"slug"})


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, named as the caller named it."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """{"field", "message"} as in every error body."""
        return {"field": self.field, "message": self.message}


class FieldValidationError(InvalidInput):
    """The item's values are invalid: one message per field."""

    def __init__(
        self, errors: Sequence[FieldError], *, message: str = "Some fields are invalid"
    ) -> None:
        super().__init__("invalid_fields", message, [error.to_dict() for error in errors])
        self.errors = list(errors)


# --- configuration tables --------------------------------------------------------------------


def parse_field_table(value: Any, variable: str) -> dict[str, dict[str, Any]]:
    """Parse FIELD_MAP / FIELD_DEFAULTS: flat {name: x} or per form {"*": {...}, "Form": {...}}."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"{variable}: must be a JSON object") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{variable}: must be a JSON object")
    nested = [isinstance(entry, Mapping) for entry in value.values()]
    if nested and all(nested):
        return {str(form): dict(table) for form, table in value.items()}
    if any(nested):
        raise ConfigError(f"{variable}: mix of per-form tables and plain entries")
    return {ANY_FORM: dict(value)}


def field_table_setting(value: Any, variable: str) -> str | None:
    """Validate a FIELD_MAP / FIELD_DEFAULTS setting (JSON text or a mapping) as it is loaded.

    Returns the JSON text, None when blank. Raises ValueError (which load_settings reports under
    the variable's name) when the table is malformed, so that it fails at start.
    """
    if isinstance(value, Mapping):
        value = json.dumps(value)
    if isinstance(value, str) and value.strip():
        try:
            table = parse_field_table(value, variable)
            if variable == "FIELD_MAP":
                FieldMapper(field_map=table)  # every entry must name a field slug
        except ConfigError as exc:
            # load_settings names the variable; keep only what is wrong with it.
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value or None


def parse_unmapped_policy(value: Any) -> dict[InputPath, UnmappedPolicy]:
    """UNMAPPED_FIELDS: "drop" or "reject" for every path, or per path ("json=reject,form=drop")."""
    policy = dict(DEFAULT_UNMAPPED)
    text = str(value or "").strip().lower()
    if not text:
        return policy
    for entry in text.split(","):
        path, equals, choice = (part.strip() for part in entry.partition("="))
        if not equals:  # one word: every path
            path, choice = "", path
        chosen = _POLICIES.get(choice)
        paths = [name for name in policy if name == path or not equals]
        if chosen is None or not paths:
            raise ConfigError(
                "UNMAPPED_FIELDS: must be drop, reject, or per path as json=reject,form=drop,"
                "webhook=drop"
            )
        for name in paths:
            policy[name] = chosen
    return policy


def closest_field(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` most likely meant ("emial" -> "email"), or None when none is close."""
    folded = {candidate.casefold(): candidate for candidate in candidates}
    found = difflib.get_close_matches(name.strip().casefold(), list(folded), n=1, cutoff=0.75)
    return folded[found[0]] if found else None


def parse_field_list(value: Any, variable: str) -> dict[str, frozenset[str]]:
    """Parse FORM_FIELDS: slugs as "a,b", a JSON list, or per form {"*": [...], "Form": [...]}."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"{variable}: must be a comma-separated list or JSON") from None
    if isinstance(value, str):
        value = {ANY_FORM: [part.strip() for part in value.split(",") if part.strip()]}
    elif isinstance(value, list):
        value = {ANY_FORM: value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{variable}: must be a list of field slugs, or such lists per form")
    tables: dict[str, frozenset[str]] = {}
    for form, slugs in value.items():
        if not isinstance(slugs, list) or not all(isinstance(slug, str) and slug for slug in slugs):
            raise ConfigError(f"{variable}: {form} must be a list of field slugs")
        if "slug" in slugs:
            raise ConfigError(f"{variable}: slug cannot be written by form posts or webhooks")
        tables[str(form)] = frozenset(slugs)
    return tables


def field_list_setting(value: Any, variable: str) -> str | None:
    """Validate a FORM_FIELDS setting as it is loaded: the text, None when blank (ValueError)."""
    if isinstance(value, (list, Mapping)):
        value = json.dumps(value)
    if isinstance(value, str) and value.strip():
        try:
            parse_field_list(value, variable)
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value or None


# --- the mapper --------------------------------------------------------------------------------

# (the Reference/MultiReference field, the caller's name, the given slugs or ids, many)
_PendingReference = tuple[Field, str, list[str], bool]
_REFERENCE_TYPES = frozenset({"Reference", "MultiReference"})


def _pending_reference(schema_field: Field, name: str, value: Any) -> _PendingReference:
    many = schema_field.type == "MultiReference"
    entries = [_reference_text(entry) for entry in (as_list(value) if many else [value])]
    return schema_field, name, entries, many


def _reference_text(value: Any) -> str:
    """A reference as given: an item id, a slug or a name, or ``{"id"|"slug"|"name": ...}``."""
    if isinstance(value, Mapping):
        given = [value[key] for key in ("id", "slug", "name") if value.get(key) is not None]
        if len(given) != 1:
            raise InvalidValue('a reference object must hold one of "id", "slug" or "name"')
        value = given[0]
    return text_value(value)


def _missing_required(
    schema: Collection, field_data: Mapping[str, Any], exempt: set[str]
) -> list[str]:
    """Slugs of required fields neither in ``field_data`` nor exempt."""
    return [
        schema_field.slug
        for schema_field in schema.fields
        if schema_field.is_required
        and schema_field.slug not in field_data
        and schema_field.slug not in exempt
    ]


@dataclass(frozen=True)
class FieldMapper:
    """Maps caller field names to CMS slugs and prepares fieldData for a collection schema."""

    field_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    unmapped: UnmappedPolicy = "drop"
    # The slugs a caller may write (public input: a form's declared fields); None: every field.
    allowed: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.unmapped not in ("drop", "reject"):
            raise ConfigError("UNMAPPED_FIELDS: must be drop or reject")
        for form, table in self.field_map.items():
            for name, slug in table.items():
                if not isinstance(slug, str) or not slug:
                    raise ConfigError(f"FIELD_MAP: {form}/{name} must map to a field slug")

    @classmethod
    def from_settings(cls, settings: Any, *, path: InputPath = "json") -> FieldMapper:
        """Build from settings exposing field_map, field_defaults and unmapped_fields, with the
        UNMAPPED_FIELDS policy of ``path``."""
        unmapped = parse_unmapped_policy(getattr(settings, "unmapped_fields", None))[path]
        return cls(
            field_map=parse_field_table(getattr(settings, "field_map", None), "FIELD_MAP"),
            defaults=parse_field_table(getattr(settings, "field_defaults", None), "FIELD_DEFAULTS"),
            unmapped=unmapped,
        )

    def restricted_to(self, allowed: Iterable[str]) -> FieldMapper:
        """This mapper, writing only the ``allowed`` slugs (never ``slug``); others are unmapped."""
        return replace(self, allowed=frozenset(allowed) - {"slug"})

    def _table(
        self, tables: Mapping[str, Mapping[str, Any]], form_name: str | None
    ) -> dict[str, Any]:
        merged = dict(tables.get(ANY_FORM, {}))
        if form_name is not None:
            merged.update(tables.get(form_name, {}))
        return merged

    def target_slug(
        self, name: str, schema: Collection, *, form_name: str | None = None
    ) -> str | None:
        """The CMS slug a caller field name lands in, or None when it is not mapped (or allowed)."""
        slug = self._mapped_slug(name, schema, form_name)
        if slug is not None and self.allowed is not None and slug not in self.allowed:
            return None
        return slug

    def _mapped_slug(self, name: str, schema: Collection, form_name: str | None) -> str | None:
        explicit = self._table(self.field_map, form_name).get(name)
        if isinstance(explicit, str):
            return explicit
        if schema.field(name) is not None:
            return name
        # Webflow forms name inputs after their labels ("Email", "First Name").
        slugged = slugify(name)
        folded = name.strip().casefold()
        for schema_field in schema.fields:
            if (
                schema_field.slug == slugged
                or (schema_field.display_name or "").strip().casefold() == folded
            ):
                return schema_field.slug
        return None

    def caller_names(
        self, schema: Collection, raw_names: Iterable[str], *, form_name: str | None = None
    ) -> dict[str, str]:
        """{slug: caller name} for the given caller fields (to name errors the caller's way)."""
        names: dict[str, str] = {}
        for name in raw_names:
            slug = self.target_slug(name, schema, form_name=form_name)
            if slug is not None:
                names.setdefault(slug, name)
        return names

    def prepare_item(
        self,
        raw: Mapping[str, Any],
        schema: Collection,
        *,
        partial: bool = False,
        form_name: str | None = None,
        resolve_references: ReferenceResolver | None = None,
        deferred: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Map, coerce and validate one item's fields into Webflow fieldData.

        Args:
            raw: caller field name -> value.
            schema: the target collection.
            partial: only the given fields (updates): required fields are not enforced, defaults
                are not applied and an empty value clears the field.
            form_name: selects per-form entries of FIELD_MAP and FIELD_DEFAULTS.
            resolve_references: resolves Reference/MultiReference slugs to item ids.
            deferred: slugs whose value arrives later (form files), exempt from the required check.

        Raises:
            FieldValidationError: with one FieldError per bad field, before anything is sent.
        """
        errors: list[FieldError] = []
        values = self._collect(raw, schema, form_name, errors)
        if not partial:
            for slug, value in self._table(self.defaults, form_name).items():
                if slug not in values or is_empty(values[slug][1]):
                    values[slug] = (slug, value)
        field_data, pending_references = self._coerce(values, schema, partial, errors)
        errors.extend(self._resolve_references(pending_references, field_data, resolve_references))
        if not partial:
            if "slug" not in field_data and isinstance(field_data.get("name"), str):
                field_data["slug"] = slugify(field_data["name"]) or "item"
            # A given but invalid value already has its own error.
            given = {slug for slug, (_, value) in values.items() if not is_empty(value)}
            exempt = set(deferred) | given | _GENERATED_FIELDS
            errors.extend(
                FieldError(self._name_for(slug, raw, schema, form_name), "is required")
                for slug in _missing_required(schema, field_data, exempt)
            )
        if errors:
            raise FieldValidationError(errors)
        return field_data

    def _collect(
        self,
        raw: Mapping[str, Any],
        schema: Collection,
        form_name: str | None,
        errors: list[FieldError],
    ) -> dict[str, tuple[str, Any]]:
        """{slug: (caller name, value)} of the caller's fields that map to an editable field."""
        values: dict[str, tuple[str, Any]] = {}
        for key, value in raw.items():
            name = str(key)
            slug = self.target_slug(name, schema, form_name=form_name)
            schema_field = schema.field(slug) if slug is not None else None
            if slug is None or schema_field is None:
                if self.unmapped == "reject" or slug is not None:
                    errors.append(FieldError(name, self._unknown(name, schema)))
            elif not schema_field.is_editable:
                errors.append(FieldError(name, "cannot be set"))
            elif slug in values:
                errors.append(FieldError(name, f"is given twice (also as {values[slug][0]})"))
            else:
                values[slug] = (name, value)
        return values

    @staticmethod
    def _coerce(
        values: Mapping[str, tuple[str, Any]],
        schema: Collection,
        partial: bool,
        errors: list[FieldError],
    ) -> tuple[dict[str, Any], list[_PendingReference]]:
        """fieldData of the values, and the references still to resolve; errors appended."""
        field_data: dict[str, Any] = {}
        pending: list[_PendingReference] = []
        for slug, (name, value) in values.items():
            schema_field = schema.field(slug)
            if schema_field is None:
                errors.append(FieldError(name, "is not a field of this collection"))
            elif is_empty(value):
                if not partial:
                    continue
                if schema_field.is_required:
                    errors.append(FieldError(name, "is required and cannot be cleared"))
                else:
                    field_data[slug] = None  # an update clears it
            else:
                try:
                    if schema_field.type in _REFERENCE_TYPES:
                        pending.append(_pending_reference(schema_field, name, value))
                    else:
                        field_data[slug] = coerce_value(schema_field, value)
                except ValueError as exc:
                    errors.append(FieldError(name, str(exc)))
        return field_data, pending

    def _unknown(self, name: str, schema: Collection) -> str:
        """ "is not a field of this collection", with the closest field the caller may write."""
        writable = [
            schema_field.slug
            for schema_field in schema.fields
            if schema_field.is_editable
            and schema_field.slug != "slug"
            and (self.allowed is None or schema_field.slug in self.allowed)
        ]
        suggestion = closest_field(name, writable)
        if suggestion is None:
            # Against display names too ("E-mail" for the Email field).
            by_name = {
                (schema_field.display_name or ""): schema_field.slug
                for schema_field in schema.fields
                if schema_field.slug in writable and schema_field.display_name
            }
            display = closest_field(name, by_name)
            suggestion = by_name[display] if display is not None else None
        message = "is not a field of this collection"
        return f"{message}; did you mean `{suggestion}`?" if suggestion else message

    def _name_for(
        self, slug: str, raw: Mapping[str, Any], schema: Collection, form_name: str | None
    ) -> str:
        for name in raw:
            if self.target_slug(str(name), schema, form_name=form_name) == slug:
                return str(name)
        for name, target in self._table(self.field_map, form_name).items():
            if target == slug:
                return name
        return slug

    @staticmethod
    def _resolve_references(
        pending: list[_PendingReference],
        field_data: dict[str, Any],
        resolver: ReferenceResolver | None,
    ) -> list[FieldError]:
        errors: list[FieldError] = []
        for schema_field, name, entries, many in pending:
            collection_id = str((schema_field.validations or {}).get("collectionId") or "")
            texts = [entry for entry in entries if not is_item_id(entry)]
            found: Mapping[str, str | tuple[str, ...]] = {}
            if texts:
                if resolver is None or not collection_id:
                    errors.append(FieldError(name, "must be an item id"))
                    continue
                found = resolver(collection_id, texts)
            problem = _unresolved(texts, found)
            if problem:
                errors.append(FieldError(name, problem))
                continue
            ids = [entry if is_item_id(entry) else str(found[entry]) for entry in entries]
            field_data[schema_field.slug] = list(dict.fromkeys(ids)) if many else ids[0]
        return errors


def _unresolved(texts: Sequence[str], found: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """What is wrong with the references that do not name exactly one item, or None."""
    missing = [text for text in texts if text not in found]
    if missing:
        return f"no item with slug or name {', '.join(repr(m) for m in missing)}"
    for text in texts:
        candidates = found[text]
        if isinstance(candidates, tuple):
            return (
                f"{text!r} names {len(candidates)} items ({', '.join(candidates[:10])}): "
                "give its slug or id"
            )
    return None


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _normalise(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, str):
        return value.strip()
    return value


def normalise_field_data(field_data: Mapping[str, Any]) -> dict[str, Any]:
    """Comparable fieldData: empty values dropped, integral floats made ints, text stripped."""
    return {key: _normalise(value) for key, value in field_data.items() if not is_empty(value)}


def field_data_matches(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """True when every value in ``sent`` is what ``stored`` holds (stored may have more fields).

    File values compare on the keys that were sent, since Webflow adds fileId and alt.
    """
    ours, theirs = normalise_field_data(sent), normalise_field_data(stored)
    for key, value in ours.items():
        other = theirs.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            if any(other.get(k) != v for k, v in value.items()):
                return False
        elif value != other:
            return False
    return True
