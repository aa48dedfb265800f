"""Values coerced to what each Webflow field type takes (text, numbers, dates, links, options,
files...), slugs, and rich text cleaned of scripts. shared/cms/fields.py maps callers' fields onto
a schema with them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from anyascii import anyascii

from shared.webflow.models import Field

__all__ = [
    "SLUG_MAX_LENGTH",
    "InvalidValue",
    "as_list",
    "coerce_value",
    "is_empty",
    "is_item_id",
    "is_valid_slug",
    "sanitize_html",
    "slugify",
    "text_value",
]

SLUG_MAX_LENGTH = 256
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
    import nh3  # RichText values only: the paths that never write one never load it

    return nh3.clean(html, url_schemes=set(_URL_SCHEMES), link_rel="noopener noreferrer")


# --- value coercion --------------------------------------------------------------------------


class InvalidValue(ValueError):
    """A value cannot be coerced; the message is shown to the caller."""


def text_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidValue("must be text")
    text = str(value).strip()
    if _CONTROL_RE.search(text):
        raise InvalidValue("must not contain control characters")
    return text


def _plain_text(value: Any, validations: Mapping[str, Any]) -> str:
    text = text_value(value)
    if validations.get("singleLine") and ("\n" in text or "\r" in text):
        raise InvalidValue("must be a single line")
    max_length = validations.get("maxLength")
    if isinstance(max_length, int) and len(text) > max_length:
        raise InvalidValue(f"must be at most {max_length} characters")
    min_length = validations.get("minLength")
    if isinstance(min_length, int) and len(text) < min_length:
        raise InvalidValue(f"must be at least {min_length} characters")
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
        raise InvalidValue("must be HTML text")
    if len(value) > RICH_TEXT_MAX_CHARS:
        raise InvalidValue(f"must be at most {RICH_TEXT_MAX_CHARS} characters")
    if nesting_depth(value, RICH_TEXT_MAX_DEPTH) > RICH_TEXT_MAX_DEPTH:
        raise InvalidValue(f"must not nest elements more than {RICH_TEXT_MAX_DEPTH} deep")
    return sanitize_html(value)


def _number(value: Any, validations: Mapping[str, Any]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidValue("must be a number")
    if isinstance(value, int) and abs(value).bit_length() > 1024:
        raise InvalidValue("is too large (Webflow stores numbers up to about 1.8e308)")
    # Through str() so that a float such as 0.1 keeps its short decimal form.
    text = str(value).strip()
    if len(text) > NUMBER_MAX_CHARS:
        raise InvalidValue(f"must be at most {NUMBER_MAX_CHARS} characters long")
    try:
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError, ArithmeticError):
        raise InvalidValue("must be a number") from None
    if not number.is_finite():
        raise InvalidValue("must be a number")
    if number and number.adjusted() > _NUMBER_MAX_EXPONENT:
        raise InvalidValue("is too large (Webflow stores numbers up to about 1.8e308)")
    if number and number.adjusted() < _NUMBER_MIN_EXPONENT:
        raise InvalidValue("is too small to store (at least 1e-300 in magnitude, or 0)")
    try:
        return _bounded_number(number, validations)
    except ArithmeticError:  # a decimal context signal on an edge the bounds above let through
        raise InvalidValue("must be a number Webflow can store") from None


def _bounded_number(number: Decimal, validations: Mapping[str, Any]) -> int | float:
    """Check a finite number whose exponent is within a double's range against the field."""
    if abs(number) > _LARGEST_DOUBLE:
        raise InvalidValue("is too large (Webflow stores numbers up to about 1.8e308)")
    integral = number == number.to_integral_value()
    if validations.get("format") == "integer" and not integral:
        raise InvalidValue("must be a whole number")
    places = validations.get("precision", validations.get("decimalPlaces"))
    exponent = number.normalize().as_tuple().exponent
    if isinstance(places, int) and places >= 0 and isinstance(exponent, int) and -exponent > places:
        raise InvalidValue(f"must have at most {places} decimal places")
    if validations.get("allowNegative") is False and number < 0:
        raise InvalidValue("must not be negative")
    if validations.get("allowZero") is False and number == 0:
        raise InvalidValue("must not be zero")
    minimum = validations.get("minValue", validations.get("min"))
    if isinstance(minimum, (int, float)) and number < Decimal(str(minimum)):
        raise InvalidValue(f"must be at least {minimum}")
    maximum = validations.get("maxValue", validations.get("max"))
    if isinstance(maximum, (int, float)) and number > Decimal(str(maximum)):
        raise InvalidValue(f"must be at most {maximum}")
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
    raise InvalidValue(
        'must be true or false ("on", "true", "1", "yes" / "off", "false", "0", "no")'
    )


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
            raise InvalidValue("must be an ISO 8601 date or date-time") from None
    else:
        raise InvalidValue("must be an ISO 8601 date or date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format_utc(moment)


def _email(value: Any, validations: Mapping[str, Any]) -> str:
    text = text_value(value)
    if len(text) > 254 or not _EMAIL_RE.match(text):
        raise InvalidValue("must be a valid email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _url(value: Any) -> str:
    text = text_value(value)
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
        raise InvalidValue("must be an http(s) URL")
    return text


def _link(value: Any, validations: Mapping[str, Any]) -> str:
    return _url(value)


def _phone(value: Any, validations: Mapping[str, Any]) -> str:
    text = text_value(value)
    if not _PHONE_RE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise InvalidValue("must be a phone number")
    return text


def _color(value: Any, validations: Mapping[str, Any]) -> str:
    text = text_value(value)
    match = _HEX_COLOR_RE.match(text)
    if match:
        digits = match.group(1).lower()
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return f"#{digits}"
    if _FUNC_COLOR_RE.match(text):
        return text
    raise InvalidValue("must be a color such as #1a2b3c")


def _option(value: Any, validations: Mapping[str, Any]) -> str:
    text = text_value(value)
    options = [opt for opt in validations.get("options") or [] if isinstance(opt, Mapping)]
    for opt in options:
        if text == opt.get("id"):
            return text
    wanted = text.casefold()
    for opt in options:
        if str(opt.get("name", "")).strip().casefold() == wanted:
            return str(opt["id"])
    names = ", ".join(str(opt.get("name")) for opt in options)
    raise InvalidValue(f"must be one of: {names}" if names else "has no options to choose from")


def _file_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"url": _url(value)}
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        file_id, url, alt = value.get("fileId"), value.get("url"), value.get("alt")
        if file_id is not None:
            if not is_item_id(file_id):
                raise InvalidValue("fileId must be a Webflow asset id")
            result["fileId"] = file_id
        if url is not None:
            result["url"] = _url(url)
        if not result:
            raise InvalidValue("must have a url or a fileId")
        if alt is not None:
            if not isinstance(alt, str):
                raise InvalidValue("alt must be text")
            result["alt"] = alt
        return result
    raise InvalidValue("must be a URL or {fileId, url, alt}")


def _file(value: Any, validations: Mapping[str, Any]) -> dict[str, Any]:
    return _file_value(value)


def as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        # Form posts carry multiple values either repeated or comma-separated.
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _multi_file(value: Any, validations: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_file_value(entry) for entry in as_list(value)]


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
        text = text_value(value)
        if not is_valid_slug(text):
            raise InvalidValue(
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
