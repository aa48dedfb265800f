"""Caller fields to CMS fields: mapping, coercion and validation against a schema; slugs."""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

import nh3
from anyascii import anyascii

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

SLUG_MAX_LENGTH = 256
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

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
_ITEM_ID_RE = re.compile(r"^[0-9a-f]{24}$")
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{3,30}$")
_HEX_COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_FUNC_COLOR_RE = re.compile(r"^(rgba?|hsla?)\([0-9., %]+\)$", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUE_WORDS = frozenset({"on", "true", "1", "yes"})
_FALSE_WORDS = frozenset({"off", "false", "0", "no", ""})
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_FILE_TYPES = frozenset({"Image", "File"})
# Numbers: Webflow stores IEEE doubles. Text and exponent are bounded before any arithmetic, since
# Decimal -> int of "1e999999" takes half a minute and "1e5000" cannot be serialised.
NUMBER_MAX_CHARS = 100
_NUMBER_MAX_EXPONENT = 308  # 1.8e308 is the largest double
_NUMBER_MIN_EXPONENT = -300
_LARGEST_DOUBLE = Decimal(sys.float_info.max)
_EXACT_DOUBLE_INTEGER = 2**53
# RichText: nh3's cost grows with the square of the nesting depth, so both are bounded first.
RICH_TEXT_MAX_CHARS = 200_000
RICH_TEXT_MAX_DEPTH = 100
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^<>]*?(/?)>")
# Elements that nest nothing (void) or that the HTML parser closes by itself when a sibling opens
# (optional end tags): neither deepens the tree however many there are.
_FLAT_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "rp",
        "rt",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
    ]
)
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


# --- slugs and HTML --------------------------------------------------------------------------


def slugify(text: str, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Webflow slug with transliteration: "No Entrar en Pánico" -> "no-entrar-en-panico"."""
    ascii_text = anyascii(str(text)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug


def is_valid_slug(value: Any) -> bool:
    """True for a Webflow slug: lowercase letters, digits, '-' and '_', at most 256 characters."""
    return isinstance(value, str) and len(value) <= SLUG_MAX_LENGTH and bool(_SLUG_RE.match(value))


def is_item_id(value: Any) -> bool:
    """True for a Webflow object id (24 lowercase hex digits)."""
    return isinstance(value, str) and bool(_ITEM_ID_RE.match(value))


def sanitize_html(html: str) -> str:
    """Remove script/style elements, event-handler attributes and non-http(s)/mailto/tel URLs."""
    return nh3.clean(html, url_schemes=set(_URL_SCHEMES), link_rel="noopener noreferrer")


# --- value coercion --------------------------------------------------------------------------


class _Invalid(ValueError):
    """A value cannot be coerced; the message is shown to the caller."""


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _Invalid("must be text")
    text = str(value).strip()
    if _CONTROL_RE.search(text):
        raise _Invalid("must not contain control characters")
    return text


def _plain_text(value: Any, validations: Mapping[str, Any]) -> str:
    text = _text(value)
    if validations.get("singleLine") and ("\n" in text or "\r" in text):
        raise _Invalid("must be a single line")
    max_length = validations.get("maxLength")
    if isinstance(max_length, int) and len(text) > max_length:
        raise _Invalid(f"must be at most {max_length} characters")
    min_length = validations.get("minLength")
    if isinstance(min_length, int) and len(text) < min_length:
        raise _Invalid(f"must be at least {min_length} characters")
    return text


def nesting_depth(html: str, limit: int) -> int:
    """How deep ``html``'s elements nest, counted up to ``limit + 1`` (linear in the length)."""
    depth = deepest = 0
    for match in _TAG_RE.finditer(html):
        closing, name, self_closing = match.groups()
        if self_closing or name.lower() in _FLAT_ELEMENTS:
            continue
        if closing:
            depth = max(0, depth - 1)
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def _rich_text(value: Any, validations: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be HTML text")
    if len(value) > RICH_TEXT_MAX_CHARS:
        raise _Invalid(f"must be at most {RICH_TEXT_MAX_CHARS} characters")
    if nesting_depth(value, RICH_TEXT_MAX_DEPTH) > RICH_TEXT_MAX_DEPTH:
        raise _Invalid(f"must not nest elements more than {RICH_TEXT_MAX_DEPTH} deep")
    return sanitize_html(value)


def _number(value: Any, validations: Mapping[str, Any]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _Invalid("must be a number")
    if isinstance(value, int) and abs(value).bit_length() > 1024:
        raise _Invalid("is too large (Webflow stores numbers up to about 1.8e308)")
    # Through str() so that a float such as 0.1 keeps its short decimal form.
    text = str(value).strip()
    if len(text) > NUMBER_MAX_CHARS:
        raise _Invalid(f"must be at most {NUMBER_MAX_CHARS} characters long")
    try:
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError, ArithmeticError):
        raise _Invalid("must be a number") from None
    if not number.is_finite():
        raise _Invalid("must be a number")
    if number and number.adjusted() > _NUMBER_MAX_EXPONENT:
        raise _Invalid("is too large (Webflow stores numbers up to about 1.8e308)")
    if number and number.adjusted() < _NUMBER_MIN_EXPONENT:
        raise _Invalid("is too small to store (at least 1e-300 in magnitude, or 0)")
    try:
        return _bounded_number(number, validations)
    except ArithmeticError:  # a decimal context signal on an edge the bounds above let through
        raise _Invalid("must be a number Webflow can store") from None


def _bounded_number(number: Decimal, validations: Mapping[str, Any]) -> int | float:
    """Check a finite number whose exponent is within a double's range against the field."""
    if abs(number) > _LARGEST_DOUBLE:
        raise _Invalid("is too large (Webflow stores numbers up to about 1.8e308)")
    integral = number == number.to_integral_value()
    if validations.get("format") == "integer" and not integral:
        raise _Invalid("must be a whole number")
    places = validations.get("precision", validations.get("decimalPlaces"))
    exponent = number.normalize().as_tuple().exponent
    if isinstance(places, int) and places >= 0 and isinstance(exponent, int) and -exponent > places:
        raise _Invalid(f"must have at most {places} decimal places")
    if validations.get("allowNegative") is False and number < 0:
        raise _Invalid("must not be negative")
    if validations.get("allowZero") is False and number == 0:
        raise _Invalid("must not be zero")
    minimum = validations.get("minValue", validations.get("min"))
    if isinstance(minimum, (int, float)) and number < Decimal(str(minimum)):
        raise _Invalid(f"must be at least {minimum}")
    maximum = validations.get("maxValue", validations.get("max"))
    if isinstance(maximum, (int, float)) and number > Decimal(str(maximum)):
        raise _Invalid(f"must be at most {maximum}")
    # Whole numbers a double holds exactly stay integers; beyond 2**53 a double is what is stored.
    return int(number) if integral and abs(number) <= _EXACT_DOUBLE_INTEGER else float(number)


def _switch(value: Any, validations: Mapping[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise _Invalid('must be true or false ("on", "true", "1", "yes" / "off", "false", "0", "no")')


def _format_utc(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _datetime(value: Any, validations: Mapping[str, Any]) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=UTC)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
        except ValueError:
            raise _Invalid("must be an ISO 8601 date or date-time") from None
    else:
        raise _Invalid("must be an ISO 8601 date or date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format_utc(moment)


def _email(value: Any, validations: Mapping[str, Any]) -> str:
    text = _text(value)
    if len(text) > 254 or not _EMAIL_RE.match(text):
        raise _Invalid("must be a valid email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _url(value: Any) -> str:
    text = _text(value)
    if (
        "://" not in text
        and "." in text
        and " " not in text
        and not text.startswith(("/", "javascript:"))
    ):
        text = "https://" + text  # visitors type "example.com" into link inputs
    parts = urlsplit(text)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() for c in text)
    ):
        raise _Invalid("must be an http(s) URL")
    return text


def _link(value: Any, validations: Mapping[str, Any]) -> str:
    return _url(value)


def _phone(value: Any, validations: Mapping[str, Any]) -> str:
    text = _text(value)
    if not _PHONE_RE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise _Invalid("must be a phone number")
    return text


def _color(value: Any, validations: Mapping[str, Any]) -> str:
    text = _text(value)
    match = _HEX_COLOR_RE.match(text)
    if match:
        digits = match.group(1).lower()
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return f"#{digits}"
    if _FUNC_COLOR_RE.match(text):
        return text
    raise _Invalid("must be a color such as #1a2b3c")


def _option(value: Any, validations: Mapping[str, Any]) -> str:
    text = _text(value)
    options = [opt for opt in validations.get("options") or [] if isinstance(opt, Mapping)]
    for opt in options:
        if text == opt.get("id"):
            return text
    wanted = text.casefold()
    for opt in options:
        if str(opt.get("name", "")).strip().casefold() == wanted:
            return str(opt["id"])
    names = ", ".join(str(opt.get("name")) for opt in options)
    raise _Invalid(f"must be one of: {names}" if names else "has no options to choose from")


def _file_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"url": _url(value)}
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        file_id, url, alt = value.get("fileId"), value.get("url"), value.get("alt")
        if file_id is not None:
            if not is_item_id(file_id):
                raise _Invalid("fileId must be a Webflow asset id")
            result["fileId"] = file_id
        if url is not None:
            result["url"] = _url(url)
        if not result:
            raise _Invalid("must have a url or a fileId")
        if alt is not None:
            if not isinstance(alt, str):
                raise _Invalid("alt must be text")
            result["alt"] = alt
        return result
    raise _Invalid("must be a URL or {fileId, url, alt}")


def _file(value: Any, validations: Mapping[str, Any]) -> dict[str, Any]:
    return _file_value(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        # Form posts carry multiple values either repeated or comma-separated.
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _multi_file(value: Any, validations: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_file_value(entry) for entry in _as_list(value)]


_COERCERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "PlainText": _plain_text,
    "RichText": _rich_text,
    "Number": _number,
    "Switch": _switch,
    "DateTime": _datetime,
    "Email": _email,
    "Link": _link,
    "VideoLink": _link,
    "Phone": _phone,
    "Color": _color,
    "Option": _option,
    "Image": _file,
    "File": _file,
    "MultiImage": _multi_file,
}


def coerce_value(schema_field: Field, value: Any) -> Any:
    """Coerce one non-reference value to what Webflow expects for the field's type.

    Raises:
        ValueError: with a message for the caller.
    """
    validations = schema_field.validations or {}
    if schema_field.slug == "slug":
        text = _text(value)
        if not is_valid_slug(text):
            raise _Invalid(
                "must be a slug: lowercase letters, digits, '-' and '_', at most 256 characters"
            )
        return text
    coercer = _COERCERS.get(schema_field.type)
    return value if coercer is None else coercer(value, validations)


def is_empty(value: Any) -> bool:
    """A value that says nothing: blank text, null or an empty list (a write leaves it out, an
    update clears the field with it)."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, tuple)) and not value)


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
    entries = [_reference_text(entry) for entry in (_as_list(value) if many else [value])]
    return schema_field, name, entries, many


def _reference_text(value: Any) -> str:
    """A reference as given: an item id, a slug or a name, or ``{"id"|"slug"|"name": ...}``."""
    if isinstance(value, Mapping):
        given = [value[key] for key in ("id", "slug", "name") if value.get(key) is not None]
        if len(given) != 1:
            raise _Invalid('a reference object must hold one of "id", "slug" or "name"')
        value = given[0]
    return _text(value)


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
            for slug in _missing_required(schema, field_data, exempt):
                errors.append(
                    FieldError(self._name_for(slug, raw, schema, form_name), "is required")
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
