"""Unit tests of shared/cms/fields.py: mapping, coercion, validation, sanitising and slugs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.cms.fields import (
    FieldError,
    FieldMapper,
    FieldValidationError,
    closest_field,
    field_data_matches,
    is_valid_slug,
    parse_field_table,
    parse_unmapped_policy,
    sanitize_html,
    slugify,
)
from shared.core.config import ConfigError
from shared.web.http import to_app_error
from shared.webflow.models import Collection

AUTHORS = "66a0b6a5c1f1b2a3d4e5f799"
NEWS, GUIDES = "8f6c1a2b3c4d5e6f7a8b9c01", "8f6c1a2b3c4d5e6f7a8b9c02"
ADA_ID, GRACE_ID = "aaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbb"


def _field(
    slug: str, kind: str, *, required: bool = False, editable: bool = True, **validations: Any
) -> dict:
    return {
        "id": f"f-{slug}",
        "slug": slug,
        "displayName": slug.replace("-", " ").title(),
        "type": kind,
        "isRequired": required,
        "isEditable": editable,
        "validations": validations or None,
    }


SCHEMA = Collection.model_validate(
    {
        "id": "c1",
        "displayName": "Posts",
        "fields": [
            _field("name", "PlainText", required=True, maxLength=256),
            _field("slug", "PlainText", required=True, maxLength=256),
            _field("summary", "PlainText", maxLength=10, minLength=2),
            _field("body", "RichText"),
            _field(
                "rating", "Number", format="decimal", precision=1, allowNegative=False, maxValue=5
            ),
            _field("count", "Number", format="integer"),
            _field("featured", "Switch"),
            _field("published-on", "DateTime"),
            _field("email", "Email"),
            _field("website", "Link"),
            _field("phone", "Phone"),
            _field("colour", "Color"),
            _field(
                "category",
                "Option",
                options=[{"id": NEWS, "name": "News"}, {"id": GUIDES, "name": "Guides"}],
            ),
            _field("author", "Reference", collectionId=AUTHORS),
            _field("contributors", "MultiReference", collectionId=AUTHORS),
            _field("hero", "Image"),
            _field("gallery", "MultiImage"),
            _field("created", "DateTime", editable=False),
        ],
    }
)


class Authors:
    """A reference resolver over a fixed author table that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, collection_id: str, slugs: Sequence[str]) -> Mapping[str, str]:
        self.calls.append((collection_id, tuple(slugs)))
        table = {"ada": ADA_ID, "grace": GRACE_ID}
        return {slug: table[slug] for slug in slugs if slug in table}


def prepare(
    raw: dict[str, Any], mapper: FieldMapper | None = None, **kwargs: Any
) -> dict[str, Any]:
    return (mapper or FieldMapper()).prepare_item(raw, SCHEMA, **kwargs)


def errors_of(
    raw: dict[str, Any], mapper: FieldMapper | None = None, **kwargs: Any
) -> dict[str, str]:
    with pytest.raises(FieldValidationError) as info:
        prepare(raw, mapper, **kwargs)
    assert to_app_error(info.value).status == 400  # the web layer's answer to it
    return {error.field: error.message for error in info.value.errors}


# --- slugs ---------------------------------------------------------------------------------


def test_slugify_transliterates() -> None:
    assert slugify("No Entrar en Pánico") == "no-entrar-en-panico"


def test_slugify_transliterates_non_latin_scripts() -> None:
    assert slugify("Привет, мир!") == "privet-mir"


def test_slugify_caps_the_length_without_a_trailing_hyphen() -> None:
    slug = slugify("ab " * 200)
    assert len(slug) <= 256
    assert not slug.endswith("-")


@given(st.text(max_size=400))
def test_slugify_always_yields_a_valid_slug_or_nothing(text: str) -> None:
    slug = slugify(text)
    assert slug == "" or is_valid_slug(slug)


# --- mapping -------------------------------------------------------------------------------


def test_name_gives_the_slug() -> None:
    assert prepare({"name": "Hello World"})["slug"] == "hello-world"


def test_an_explicit_slug_is_kept() -> None:
    assert prepare({"name": "Hello", "slug": "custom_1"})["slug"] == "custom_1"


def test_a_malformed_explicit_slug_is_rejected() -> None:
    assert "slug" in errors_of({"name": "Hello", "slug": "Not A Slug"})


def test_webflow_form_labels_map_to_slugs() -> None:
    data = prepare({"Name": "Ada", "Email": "ada@example.com", "Published On": "2024-01-02"})
    assert data["email"] == "ada@example.com"
    assert data["published-on"] == "2024-01-02T00:00:00.000Z"


def test_field_map_renames_caller_fields() -> None:
    mapper = FieldMapper(field_map=parse_field_table('{"full_name": "name"}', "FIELD_MAP"))
    assert prepare({"full_name": "Ada"}, mapper)["name"] == "Ada"


def test_per_form_field_map_overrides_the_wildcard() -> None:
    mapper = FieldMapper(
        field_map=parse_field_table(
            {"*": {"who": "name"}, "Contact": {"who": "summary"}}, "FIELD_MAP"
        )
    )
    assert prepare({"name": "A", "who": "xyz"}, mapper, form_name="Contact")["summary"] == "xyz"
    assert prepare({"who": "Ada"}, mapper, form_name="Other")["name"] == "Ada"


def test_unmapped_fields_are_dropped_by_default() -> None:
    assert "utm_source" not in prepare({"name": "Ada", "utm_source": "x"})


def test_unmapped_fields_are_rejected_when_configured() -> None:
    assert errors_of({"name": "Ada", "utm_source": "x"}, FieldMapper(unmapped="reject")) == {
        "utm_source": "is not a field of this collection"
    }


def test_defaults_fill_missing_fields() -> None:
    mapper = FieldMapper(defaults=parse_field_table({"category": "News"}, "FIELD_DEFAULTS"))
    assert prepare({"name": "Ada"}, mapper)["category"] == NEWS


def test_a_non_editable_field_cannot_be_set() -> None:
    assert errors_of({"name": "A", "created": "2024-01-01"}) == {"created": "cannot be set"}


def test_the_same_field_twice_is_an_error() -> None:
    assert "Email" in errors_of({"name": "A", "email": "a@example.com", "Email": "b@example.com"})


def test_mixed_field_table_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="FIELD_MAP"):
        parse_field_table({"*": {"a": "b"}, "c": "d"}, "FIELD_MAP")


def test_malformed_field_table_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="FIELD_DEFAULTS: must be a JSON object"):
        parse_field_table("{nope", "FIELD_DEFAULTS")


def test_unknown_unmapped_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="UNMAPPED_FIELDS"):
        FieldMapper(unmapped="ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"json": "reject", "form": "drop", "webhook": "drop"}),
        ("drop", {"json": "drop", "form": "drop", "webhook": "drop"}),
        (" Reject ", {"json": "reject", "form": "reject", "webhook": "reject"}),
        ("form=reject", {"json": "reject", "form": "reject", "webhook": "drop"}),
        ("json=drop, webhook=reject", {"json": "drop", "form": "drop", "webhook": "reject"}),
    ],
)
def test_unmapped_policy_per_path(value: str | None, expected: dict[str, str]) -> None:
    assert parse_unmapped_policy(value) == expected


@pytest.mark.parametrize("value", ["ignore", "json=ignore", "api=drop", "json"])
def test_a_malformed_unmapped_policy_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="UNMAPPED_FIELDS"):
        parse_unmapped_policy(value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("emial", "email"), ("Email", "email"), ("nmae", "name"), ("colour", None), ("", None)],
)
def test_the_closest_field_is_suggested_only_when_close(name: str, expected: str | None) -> None:
    assert closest_field(name, ["name", "email", "summary"]) == expected


def test_a_rejected_field_suggests_only_fields_the_caller_may_write() -> None:
    mapper = FieldMapper(unmapped="reject", allowed=frozenset({"name"}))
    # "summry" is close to summary, which this caller may not write: no suggestion
    assert errors_of({"name": "A", "summry": "x"}, mapper) == {
        "summry": "is not a field of this collection"
    }


# --- required and partial ------------------------------------------------------------------


def test_missing_required_field_is_reported() -> None:
    assert errors_of({"summary": "hello"}) == {"name": "is required"}


def test_missing_required_field_is_named_as_the_field_map_names_it() -> None:
    mapper = FieldMapper(field_map={"*": {"full_name": "name"}})
    assert errors_of({"summary": "hello"}, mapper) == {"full_name": "is required"}


def test_partial_mode_needs_no_required_fields() -> None:
    assert prepare({"rating": "3"}, partial=True) == {"rating": 3}


def test_partial_mode_clears_optional_fields_and_protects_required_ones() -> None:
    assert prepare({"summary": ""}, partial=True) == {"summary": None}
    assert errors_of({"name": ""}, partial=True) == {"name": "is required and cannot be cleared"}


def test_partial_mode_does_not_apply_defaults() -> None:
    mapper = FieldMapper(defaults={"*": {"category": "News"}})
    assert "category" not in prepare({"rating": 1}, mapper, partial=True)


def test_deferred_fields_are_exempt_from_required() -> None:
    schema = Collection.model_validate(
        {
            "id": "g",
            "fields": [
                _field("name", "PlainText", required=True),
                _field("image", "Image", required=True),
            ],
        }
    )
    assert FieldMapper().prepare_item({"name": "A"}, schema, deferred={"image"})["slug"] == "a"


def test_every_bad_field_is_reported_at_once() -> None:
    errors = errors_of({"name": "A", "email": "nope", "rating": "x", "category": "Gossip"})
    assert set(errors) == {"email", "rating", "category"}


# --- coercion by type ----------------------------------------------------------------------


def test_plain_text_length_limits() -> None:
    assert errors_of({"name": "A", "summary": "x" * 11}) == {
        "summary": "must be at most 10 characters"
    }
    assert errors_of({"name": "A", "summary": "x"}) == {"summary": "must be at least 2 characters"}


def test_plain_text_is_trimmed() -> None:
    assert prepare({"name": "  Ada  "})["name"] == "Ada"


def test_rich_text_is_sanitised() -> None:
    html = (
        '<p onclick="steal()">Hi<script>alert(1)</script></p><style>p{}</style>'
        '<a href="javascript:alert(1)">x</a><a href="https://ok.example">ok</a>'
    )
    body = prepare({"name": "A", "body": html})["body"]
    assert "script" not in body
    assert "alert" not in body
    assert "style" not in body
    assert "onclick" not in body
    assert "javascript:" not in body
    assert 'href="https://ok.example"' in body


def test_sanitize_html_keeps_ordinary_markup() -> None:
    assert (
        sanitize_html("<p><strong>Bold</strong> <em>it</em></p>")
        == "<p><strong>Bold</strong> <em>it</em></p>"
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("4.5", 4.5), (3, 3), ("2", 2), (4.0, 4), (" 1.5 ", 1.5), ("4.50", 4.5)]
)
def test_number_coercion(raw: Any, expected: Any) -> None:
    value = prepare({"name": "A", "rating": raw})["rating"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "must be a number"),
        (True, "must be a number"),
        ("NaN", "must be a number"),
        ("-1", "must not be negative"),
        ("5.5", "must be at most 5"),
        ("1.25", "must have at most 1 decimal places"),
    ],
)
def test_number_validations(raw: Any, message: str) -> None:
    assert errors_of({"name": "A", "rating": raw}) == {"rating": message}


def test_integer_number_rejects_fractions() -> None:
    assert errors_of({"name": "A", "count": "1.5"}) == {"count": "must be a whole number"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("on", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (True, True),
        ("off", False),
        ("false", False),
        ("0", False),
        ("no", False),
        (False, False),
    ],
)
def test_switch_words(raw: Any, expected: bool) -> None:
    assert prepare({"name": "A", "featured": raw})["featured"] is expected


def test_switch_rejects_other_words() -> None:
    assert "featured" in errors_of({"name": "A", "featured": "maybe"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", "2024-03-01T00:00:00.000Z"),
        ("2024-03-01T10:20:30Z", "2024-03-01T10:20:30.000Z"),
        ("2024-03-01T10:20:30.123456+02:00", "2024-03-01T08:20:30.123Z"),
        ("2024-03-01 10:20", "2024-03-01T10:20:00.000Z"),
    ],
)
def test_datetime_becomes_iso_utc_milliseconds(raw: str, expected: str) -> None:
    assert prepare({"name": "A", "published-on": raw})["published-on"] == expected


def test_datetime_rejects_nonsense() -> None:
    assert "published-on" in errors_of({"name": "A", "published-on": "next tuesday"})


def test_email_is_checked_and_its_domain_lowercased() -> None:
    assert prepare({"name": "A", "email": "Ada@Example.COM"})["email"] == "Ada@example.com"
    assert errors_of({"name": "A", "email": "ada@"}) == {"email": "must be a valid email address"}


def test_link_needs_http_and_adds_a_missing_scheme() -> None:
    assert prepare({"name": "A", "website": "example.com/x"})["website"] == "https://example.com/x"
    assert errors_of({"name": "A", "website": "javascript:alert(1)"}) == {
        "website": "must be an http(s) URL"
    }
    assert "website" in errors_of({"name": "A", "website": "ftp://example.com"})


def test_phone_is_checked() -> None:
    assert prepare({"name": "A", "phone": "+34 (91) 123-45-67"})["phone"] == "+34 (91) 123-45-67"
    assert errors_of({"name": "A", "phone": "call me"}) == {"phone": "must be a phone number"}


def test_color_is_normalised() -> None:
    assert prepare({"name": "A", "colour": "ABC"})["colour"] == "#aabbcc"
    assert "colour" in errors_of({"name": "A", "colour": "blurple"})


def test_option_by_name_case_insensitive_or_by_id() -> None:
    assert prepare({"name": "A", "category": " guides "})["category"] == GUIDES
    assert prepare({"name": "A", "category": NEWS})["category"] == NEWS


def test_unknown_option_lists_the_choices() -> None:
    assert errors_of({"name": "A", "category": "Gossip"}) == {
        "category": "must be one of: News, Guides"
    }


def test_reference_by_slug_is_resolved_to_an_id() -> None:
    authors = Authors()
    data = prepare({"name": "A", "author": "ada"}, resolve_references=authors)
    assert data["author"] == ADA_ID
    assert authors.calls == [(AUTHORS, ("ada",))]


def test_reference_by_id_needs_no_lookup() -> None:
    authors = Authors()
    assert (
        prepare({"name": "A", "author": GRACE_ID}, resolve_references=authors)["author"] == GRACE_ID
    )
    assert authors.calls == []


def test_unknown_reference_slug_is_an_error() -> None:
    assert errors_of({"name": "A", "author": "nobody"}, resolve_references=Authors()) == {
        "author": "no item with slug or name 'nobody'"
    }


def test_reference_slug_without_a_resolver_is_an_error() -> None:
    assert errors_of({"name": "A", "author": "ada"}) == {"author": "must be an item id"}


def test_multi_reference_takes_lists_and_comma_separated_text() -> None:
    assert prepare({"name": "A", "contributors": "ada, grace"}, resolve_references=Authors())[
        "contributors"
    ] == [
        ADA_ID,
        GRACE_ID,
    ]
    assert prepare(
        {"name": "A", "contributors": ["grace", GRACE_ID]}, resolve_references=Authors()
    )["contributors"] == [GRACE_ID]


def test_image_from_url_or_object() -> None:
    assert prepare({"name": "A", "hero": "https://cdn.example/a.png"})["hero"] == {
        "url": "https://cdn.example/a.png"
    }
    hero = {"fileId": "cccccccccccccccccccccccc", "url": "https://cdn.example/b.png", "alt": "B"}
    assert prepare({"name": "A", "hero": hero})["hero"] == hero


def test_image_must_be_a_url_or_file() -> None:
    assert "hero" in errors_of({"name": "A", "hero": {"alt": "only alt"}})
    assert "gallery" in errors_of(
        {"name": "A", "gallery": ["https://ok.example/a.png", "not a url"]}
    )


# --- comparing field data ------------------------------------------------------------------


def test_matching_ignores_extra_stored_fields_and_webflow_file_keys() -> None:
    sent = {"name": "Ada", "rating": 4, "hero": {"url": "https://x.example/a.png"}}
    stored = {
        "name": "Ada",
        "rating": 4.0,
        "hero": {"url": "https://x.example/a.png", "fileId": "f"},
        "x": None,
    }
    assert field_data_matches(sent, stored)


def test_matching_sees_a_changed_value() -> None:
    assert not field_data_matches({"name": "Ada", "rating": 4}, {"name": "Ada", "rating": 5})


def test_control_characters_are_refused_in_text() -> None:
    assert errors_of({"name": "bad\x00name"}) == {"name": "must not contain control characters"}


def test_an_invalid_required_value_is_reported_once() -> None:
    assert errors_of({"name": {"not": "text"}}) == {"name": "must be text"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from([f.slug for f in SCHEMA.fields] + ["Email", "other"]), JSON_VALUES
    )
)
def test_any_input_either_prepares_or_fails_per_field(raw: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    try:
        prepared = FieldMapper().prepare_item(raw, SCHEMA, resolve_references=Authors())
    except FieldValidationError as exc:
        errors = exc.errors
        prepared = None
    if prepared is None:
        assert errors
        assert all(error.message for error in errors)
    else:
        assert is_valid_slug(prepared["slug"])
