"""Validation of item ``fieldData`` against a collection schema, as Webflow does it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .ids import is_object_id

Detail = dict[str, str]

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{3,30}$")
COLOR_RE = re.compile(
    r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|#[0-9a-fA-F]{8}|rgba?\([0-9., %]+\)|hsla?\([0-9., %]+\))$"
)
SLUG_MAX = 256
NAME_MAX = 256

UNKNOWN_FIELD = "Field not described in schema"


def _detail(param: str, description: str) -> Detail:
    return {"param": param, "description": description}


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


AssetUrl = Callable[[str], str | None]


def _file_value(value: Any, asset_url: AssetUrl | None) -> dict[str, Any] | None:
    """Normalise an Image/File value (``{fileId?, url?, alt?}`` or a URL) or return None.

    A ``fileId`` must name an asset of the site; its hosted URL fills a missing ``url``.
    """
    if isinstance(value, str):
        return {"fileId": None, "url": value, "alt": None} if URL_RE.match(value) else None
    if not isinstance(value, dict):
        return None
    url, file_id, alt = value.get("url"), value.get("fileId"), value.get("alt")
    if url is None and file_id is None:
        return None
    if url is not None and not (isinstance(url, str) and URL_RE.match(url)):
        return None
    if alt is not None and not isinstance(alt, str):
        return None
    if file_id is not None:
        hosted = asset_url(file_id) if asset_url is not None and is_object_id(file_id) else None
        if hosted is None:
            return None
        url = url or hosted
    return {"fileId": file_id, "url": url, "alt": alt}


class FieldValidator:
    """Checks one item's ``fieldData`` against a collection's fields.

    Args:
        collection: the collection document (with ``fields``).
        reference_exists: ``(collection_id, item_id) -> bool`` for Reference fields.
        skip_invalid_files: drop invalid Image/File values instead of failing.
        asset_url: ``file_id -> hosted URL`` of the site's assets (None: unknown asset).
    """

    def __init__(
        self,
        collection: dict[str, Any],
        reference_exists: Callable[[str, str], bool],
        *,
        skip_invalid_files: bool = True,
        asset_url: AssetUrl | None = None,
    ) -> None:
        self.fields = {f["slug"]: f for f in collection["fields"]}
        self.reference_exists = reference_exists
        self.skip_invalid_files = skip_invalid_files
        self.asset_url = asset_url

    def validate(self, field_data: Any, *, partial: bool) -> tuple[dict[str, Any], list[Detail]]:
        """Return ``(cleaned fieldData, error details)``.

        Args:
            field_data: the request's ``fieldData``.
            partial: True for an update (required fields need not be present).
        """
        if not isinstance(field_data, dict):
            return {}, [_detail("fieldData", "Must be an object")]
        errors: list[Detail] = []
        clean: dict[str, Any] = {}
        for slug, value in field_data.items():
            schema_field = self.fields.get(slug)
            if schema_field is None:
                errors.append(_detail(slug, UNKNOWN_FIELD))
                continue
            if value is None or (value == "" and slug not in ("name", "slug")):
                # an empty value clears a field, which a required one refuses
                if schema_field.get("isRequired"):
                    errors.append(_detail(slug, "Field is required"))
                clean[slug] = None
                continue
            try:
                result = self._check(schema_field, value)
            except _Invalid as problem:
                errors.append(_detail(slug, str(problem)))
                continue
            if not isinstance(result, _Drop):
                clean[slug] = result
        if not partial:
            reported = {detail["param"] for detail in errors}
            for slug, schema_field in self.fields.items():
                # a required file dropped by skipInvalidFiles counts as missing
                if schema_field.get("isRequired") and slug not in clean and slug not in reported:
                    errors.append(_detail(slug, "Field is required"))
        return clean, errors

    def _check(self, schema_field: dict[str, Any], value: Any) -> Any:
        """Return the cleaned value or a _Drop; raise _Invalid with the problem."""
        slug = schema_field["slug"]
        kind = schema_field["type"]
        validations = schema_field.get("validations") or {}
        if slug == "slug":
            if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > SLUG_MAX:
                raise _Invalid(
                    "Must be a slug: lowercase letters, digits, hyphens and underscores, "
                    f"at most {SLUG_MAX} characters"
                )
            return value
        if slug == "name":
            if not isinstance(value, str) or not value.strip():
                raise _Invalid("Must be a non-empty string")
            if len(value) > NAME_MAX:
                raise _Invalid(f"Must be at most {NAME_MAX} characters")
            return value
        checker = _CHECKERS.get(kind)
        if checker is None:
            return value
        return checker(self, value, validations)

    # ---------------------------------------------------------------- per type
    def _plain_text(self, value: Any, validations: dict[str, Any]) -> Any:
        if not isinstance(value, str):
            raise _Invalid("Must be a string")
        max_length = validations.get("maxLength")
        if isinstance(max_length, int) and len(value) > max_length:
            raise _Invalid(f"Must be at most {max_length} characters")
        min_length = validations.get("minLength")
        if isinstance(min_length, int) and len(value) < min_length:
            raise _Invalid(f"Must be at least {min_length} characters")
        return value

    def _number(self, value: Any, validations: dict[str, Any]) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise _Invalid("Must be a number")
        if validations.get("format") == "integer" and value != int(value):
            raise _Invalid("Must be an integer")
        if validations.get("allowNegative") is False and value < 0:
            raise _Invalid("Must not be negative")
        return value

    def _option(self, value: Any, validations: dict[str, Any]) -> Any:
        option_ids = {opt.get("id") for opt in validations.get("options", [])}
        if not isinstance(value, str) or value not in option_ids:
            raise _Invalid("Must be the id of one of the field's options")
        return value

    def _reference(self, value: Any, validations: dict[str, Any]) -> Any:
        target = validations.get("collectionId")
        if not is_object_id(value):
            raise _Invalid("Must be an item id")
        if target and not self.reference_exists(target, value):
            raise _Invalid(f"Referenced item not found: '{value}'")
        return value

    def _multi_reference(self, value: Any, validations: dict[str, Any]) -> Any:
        if not isinstance(value, list):
            raise _Invalid("Must be a list of item ids")
        for entry in value:
            self._reference(entry, validations)
        return value

    def _file(self, value: Any, validations: dict[str, Any]) -> Any:
        normalised = _file_value(value, self.asset_url)
        if normalised is not None:
            return normalised
        if self.skip_invalid_files:
            return _Drop()
        raise _Invalid("Must be a file: {fileId, url, alt} with a valid URL or an asset's id")

    def _multi_image(self, value: Any, validations: dict[str, Any]) -> Any:
        if not isinstance(value, list):
            if self.skip_invalid_files:
                return _Drop()
            raise _Invalid("Must be a list of images")
        kept = [v for v in (_file_value(entry, self.asset_url) for entry in value) if v is not None]
        if len(kept) != len(value) and not self.skip_invalid_files:
            raise _Invalid(
                "Must be a list of images: {fileId, url, alt} with a valid URL or an asset's id"
            )
        return kept


def _accepting(
    test: Callable[[Any], bool], description: str
) -> Callable[[FieldValidator, Any, dict[str, Any]], Any]:
    """A checker that keeps a value passing ``test`` unchanged and refuses any other."""

    def check(validator: FieldValidator, value: Any, validations: dict[str, Any]) -> Any:
        if not test(value):
            raise _Invalid(description)
        return value

    return check


def _matches(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and pattern.match(value) is not None


class _Drop:
    """Marker: leave this (invalid file) value out, as skipInvalidFiles asks."""


class _Invalid(ValueError):
    """A field value that breaks its schema; the message is the detail's description."""


_CHECKERS: dict[str, Callable[[FieldValidator, Any, dict[str, Any]], Any]] = {
    "PlainText": FieldValidator._plain_text,
    "RichText": _accepting(lambda value: isinstance(value, str), "Must be a string of HTML"),
    "Number": FieldValidator._number,
    "Switch": _accepting(lambda value: isinstance(value, bool), "Must be a boolean"),
    "DateTime": _accepting(_is_datetime, "Must be an ISO 8601 date"),
    "Email": _accepting(_matches(EMAIL_RE), "Must be a valid email address"),
    "Link": _accepting(_matches(URL_RE), "Must be a valid URL"),
    "VideoLink": _accepting(_matches(URL_RE), "Must be a valid URL"),
    "Phone": _accepting(_matches(PHONE_RE), "Must be a valid phone number"),
    "Color": _accepting(_matches(COLOR_RE), "Must be a color (#rrggbb)"),
    "Option": FieldValidator._option,
    "Reference": FieldValidator._reference,
    "MultiReference": FieldValidator._multi_reference,
    "Image": FieldValidator._file,
    "File": FieldValidator._file,
    "MultiImage": FieldValidator._multi_image,
}
