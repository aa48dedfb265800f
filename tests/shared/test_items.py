"""Unit tests of shared/cms/items.py: slug collisions, partial failures, request economy, settings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from shared.cms.fields import FieldMapper, FieldValidationError
from shared.cms.items import (
    CreateOutcome,
    CreateResult,
    create_items,
    keyed_slug,
)
from shared.core.config import ConfigError, load_settings
from shared.intake.settings import CreateItemsSettings
from shared.webflow.errors import InternalServerError, RateLimitError, WebflowError
from shared.webflow.models import (
    Collection,
    ErrorInfo,
    Item,
    ItemList,
    ItemResult,
    NewItem,
    Pagination,
)


@pytest.fixture(autouse=True)
def _synchronous_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """These settings tests are about fields; the intake queue's are in test_intake.py."""
    monkeypatch.setenv("FORM_INTAKE", "sync")


SCHEMA = Collection.model_validate(
    {
        "id": "posts",
        "fields": [
            {"id": "1", "slug": "name", "type": "PlainText", "isRequired": True},
            {"id": "2", "slug": "slug", "type": "PlainText", "isRequired": True},
            {"id": "3", "slug": "summary", "type": "PlainText"},
        ],
    }
)


class FakeWebflow:
    """An in-memory collection behind the client methods create orchestration uses."""

    def __init__(
        self, existing: Sequence[dict[str, Any]] = (), fail_on_create: int | None = None
    ) -> None:
        self.items: dict[str, Item] = {}
        self.calls: list[str] = []
        self.fail_on_create = fail_on_create
        self._next = 0
        for field_data in existing:
            self._store(NewItem(field_data=field_data))

    def _store(self, new: NewItem) -> Item:
        self._next += 1
        item = Item(id=f"{self._next:024x}", field_data=dict(new.field_data), is_draft=new.is_draft)
        self.items[str(new.slug)] = item
        return item

    def get_collection(self, collection_id: str) -> Collection:
        self.calls.append("get_collection")
        return SCHEMA

    def create_items(
        self, collection_id: str, items: Sequence[NewItem], *, live: bool = False
    ) -> list[ItemResult]:
        """Like the client: one request (one "create_items" call) per 100 items."""
        results: list[ItemResult] = []
        for start in range(0, len(items), 100):
            self.calls.append("create_items")
            if self.calls.count("create_items") == self.fail_on_create:
                error = RateLimitError(
                    429, "too_many_requests", "Too Many Requests", retry_after=42
                )
                error.partial_results = results
                raise error
            results.extend(
                self._create_one(index, items[index])
                for index in range(start, min(start + 100, len(items)))
            )
        return results

    def _create_one(self, index: int, item: NewItem) -> ItemResult:
        if item.field_data.get("summary") == "refused by webflow":
            detail = {"param": f"items[{index}].fieldData.summary", "description": "Not allowed"}
            error = ErrorInfo(code="validation_error", message="Validation Error", details=[detail])
            return ItemResult(index=index, status="failed", error=error)
        if item.slug in self.items:
            error = ErrorInfo(code="duplicate_slug", message="taken", status_code=400)
            return ItemResult(index=index, status="failed", error=error)
        return ItemResult(index=index, status="created", item=self._store(item))

    def find_item_by_slug(self, collection_id: str, slug: str, **_: Any) -> Item | None:
        self.calls.append("find_item_by_slug")
        return self.items.get(slug)

    def list_items(
        self, collection_id: str, *, offset: int = 0, limit: int = 100, **_: Any
    ) -> ItemList:
        self.calls.append("list_items")
        everything = list(self.items.values())
        page = everything[offset : offset + limit]
        return ItemList(
            items=page, pagination=Pagination(limit=limit, offset=offset, total=len(everything))
        )


def run(client: FakeWebflow, entries: list[dict[str, Any]], **kwargs: Any) -> CreateOutcome:
    return create_items(
        client,  # type: ignore[arg-type]
        "posts",
        [{"fieldData": data} for data in entries],
        kwargs.pop("mapper", FieldMapper()),
        default_draft=kwargs.pop("default_draft", False),
        live=kwargs.pop("live", False),
    )


def statuses(outcome: CreateOutcome) -> list[tuple[str, str | None]]:
    return [(result.status, result.slug) for result in outcome.results]


def test_the_happy_path_makes_no_lookups() -> None:
    client = FakeWebflow()
    outcome = run(client, [{"name": f"Post {n}"} for n in range(250)])
    assert outcome.status_code == 201
    assert client.calls == ["get_collection"] + ["create_items"] * 3


def test_is_draft_is_always_explicit() -> None:
    client = FakeWebflow()
    run(client, [{"name": "Draft"}], default_draft=True)
    run(client, [{"name": "Live"}], default_draft=True, live=True)
    assert client.items["draft"].is_draft is True
    assert client.items["live"].is_draft is False


def test_same_content_is_existing_and_different_content_is_numbered() -> None:
    client = FakeWebflow(existing=[{"name": "Hello", "slug": "hello", "summary": "a"}])
    outcome = run(client, [{"name": "Hello", "summary": "a"}, {"name": "Hello", "summary": "b"}])
    assert statuses(outcome) == [("existing", "hello"), ("created", "hello-2")]
    assert outcome.results[0].id == client.items["hello"].id
    assert outcome.status_code == 201


def test_numbering_skips_every_taken_slug() -> None:
    client = FakeWebflow(
        existing=[
            {"name": "Hi", "slug": "hi", "summary": "1"},
            {"name": "Hi", "slug": "hi-2", "summary": "2"},
        ]
    )
    outcome = run(client, [{"name": "Hi", "summary": "3"}])
    assert statuses(outcome) == [("created", "hi-3")]


def test_all_existing_is_200() -> None:
    client = FakeWebflow(existing=[{"name": "Hello", "slug": "hello"}])
    assert run(client, [{"name": "Hello"}]).status_code == 200


def test_many_collisions_list_the_collection_instead_of_one_lookup_each() -> None:
    entries = [{"name": f"Post {n}"} for n in range(300)]
    client = FakeWebflow(existing=[{**e, "slug": f"post-{n}"} for n, e in enumerate(entries)])
    outcome = run(client, entries)
    assert outcome.status_code == 200
    assert client.calls.count("find_item_by_slug") == 0
    assert client.calls.count("list_items") == 3


def test_a_slug_taken_meanwhile_is_looked_up_again() -> None:
    client = FakeWebflow(existing=[{"name": "Race", "slug": "race", "summary": "other"}])

    original = client.create_items
    raced = {"done": False}

    def racing_create(
        collection_id: str, items: Sequence[NewItem], *, live: bool = False
    ) -> list[ItemResult]:
        # Another instance creates "race-2" between our lookup and our create.
        if not raced["done"] and any(item.slug == "race-2" for item in items):
            raced["done"] = True
            client._store(
                NewItem(field_data={"name": "Race", "slug": "race-2", "summary": "third party"})
            )
        return original(collection_id, items, live=live)

    client.create_items = racing_create  # type: ignore[method-assign]
    outcome = run(client, [{"name": "Race", "summary": "mine"}])
    assert statuses(outcome) == [("created", "race-3")]


def test_a_failure_after_some_chunks_reports_every_item() -> None:
    client = FakeWebflow(fail_on_create=2)
    outcome = run(client, [{"name": f"Post {n}"} for n in range(150)])
    assert outcome.status_code == 207
    assert outcome.count("created") == 100
    assert outcome.count("failed") == 50
    assert {r.error.code for r in outcome.results if r.error} == {"upstream_unavailable"}
    assert outcome.headers == {"Retry-After": "42"}


def test_a_collision_pending_when_webflow_fails_is_reported_too() -> None:
    client = FakeWebflow(
        existing=[{"name": "Post 0", "slug": "post-0", "summary": "other"}], fail_on_create=2
    )
    outcome = run(client, [{"name": f"Post {n}"} for n in range(150)])
    assert len(outcome.results) == 150
    assert outcome.results[0].status == "failed"
    assert outcome.results[0].error is not None
    assert outcome.results[0].error.code == "upstream_unavailable"


class LostAnswers(FakeWebflow):
    """Creates the items, but the answer is lost and the look-up that would tell fails too."""

    def create_items(
        self, collection_id: str, items: Sequence[NewItem], *, live: bool = False
    ) -> list[ItemResult]:
        self.calls.append("create_items")
        for item in items:
            self._store(item)
        error = RateLimitError(429, "too_many_requests", "Too Many Requests", retry_after=42)
        unknown = ErrorInfo(code="outcome_unknown", message="may have been created")
        error.partial_results = [
            ItemResult(index=index, status="failed", error=unknown) for index in range(len(items))
        ]
        raise error


def test_items_that_may_have_been_created_are_reported_not_raised_away() -> None:
    outcome = run(LostAnswers(), [{"name": "Post 0"}, {"name": "Post 1"}])
    assert [r.error.code if r.error else None for r in outcome.results] == ["outcome_unknown"] * 2
    assert (outcome.status_code, outcome.headers) == (503, {"Retry-After": "42"})


def test_a_failure_before_anything_was_written_raises() -> None:
    client = FakeWebflow(fail_on_create=1)
    with pytest.raises(WebflowError):
        run(client, [{"name": "Post"}])


def test_no_valid_item_raises_with_item_paths_before_sending() -> None:
    client = FakeWebflow()
    with pytest.raises(FieldValidationError) as info:
        run(client, [{"summary": "a"}, {"summary": "b"}])
    assert [d["field"] for d in info.value.details] == [
        "items[0].fieldData.name",
        "items[1].fieldData.name",
    ]
    assert client.calls == ["get_collection"]


def test_a_single_invalid_item_names_its_fields_plainly() -> None:
    with pytest.raises(FieldValidationError) as info:
        run(FakeWebflow(), [{"summary": "a"}])
    assert info.value.details == [{"field": "name", "message": "is required"}]


def test_webflow_refusals_are_reported_in_the_callers_field_names() -> None:
    mapper = FieldMapper(field_map={"*": {"Blurb": "summary"}})
    outcome = run(
        FakeWebflow(), [{"name": "A"}, {"name": "B", "Blurb": "refused by webflow"}], mapper=mapper
    )
    assert outcome.status_code == 207
    error = outcome.results[1].error
    assert error is not None
    assert error.details == [{"field": "Blurb", "message": "Not allowed"}]


def test_a_webflow_refusal_of_every_item_is_422() -> None:
    error = ErrorInfo(
        code="validation_error", message="bad", details=[{"param": "summary", "description": "no"}]
    )
    outcome = CreateOutcome([CreateResult(0, "failed", error=error)])
    assert outcome.status_code == 422
    assert outcome.to_json()["code"] == "not_created"


def test_an_outage_for_every_item_is_503() -> None:
    error = ErrorInfo(code="upstream_unavailable", message="later")
    assert CreateOutcome([CreateResult(0, "failed", error=error)]).status_code == 503


def test_a_whole_outage_on_the_schema_fetch_raises() -> None:
    class Down(FakeWebflow):
        def get_collection(self, collection_id: str) -> Collection:
            raise InternalServerError(503, None, "down")

    with pytest.raises(InternalServerError):
        run(Down(), [{"name": "x"}])


# --- settings ------------------------------------------------------------------------------


def test_settings_parse_lists_and_secrets() -> None:
    settings = load_settings(
        CreateItemsSettings,
        webflow_api_token="t" * 10,
        create_items_api_keys="key-one-0123456789, key-two-0123456789",
        allowed_origins="https://a.example, https://b.example",
        form_names="Contact,Support",
        form_fields="name,email",
    )
    assert [key.get_secret_value() for key in settings.api_keys] == [
        "key-one-0123456789",
        "key-two-0123456789",
    ]
    assert settings.origins == ["https://a.example", "https://b.example"]
    assert settings.form_name_filter == ["Contact", "Support"]
    assert "key-one-0123456789" not in repr(settings)


# --- public input: declared fields, drafts, keyed slugs --------------------------------------


@pytest.mark.parametrize(
    "public_path",
    [
        {"webflow_webhook_secret": "whsec-0123456789"},
        {"allowed_origins": "https://a.example"},
        {"form_success_url": "https://a.example/thanks"},
    ],
    ids=["webhooks", "origins", "success-page"],
)
def test_a_public_path_without_declared_fields_fails_at_start(public_path: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="FORM_FIELDS: is required with"):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, **public_path)


def test_field_map_targets_serve_as_the_declared_fields() -> None:
    settings = load_settings(
        CreateItemsSettings,
        webflow_api_token="t" * 10,
        allowed_origins="https://a.example",
        field_map='{"*": {"Your Name": "name"}, "Contact": {"Mail": "email", "S": "slug"}}',
    )
    assert settings.public_fields() == frozenset({"name"})
    assert settings.public_fields("Contact") == frozenset({"name", "email"})  # never slug


def test_an_empty_field_map_declares_nothing() -> None:
    with pytest.raises(ConfigError, match="FORM_FIELDS"):
        load_settings(
            CreateItemsSettings, webflow_api_token="t" * 10, allowed_origins="*", field_map="{}"
        )


@pytest.mark.parametrize(
    ("value", "form", "expected"),
    [
        ("name, email", None, {"name", "email"}),
        ('["name"]', "Contact", {"name"}),
        ('{"*": ["name"], "Contact": ["email"]}', "Contact", {"name", "email"}),
        ('{"*": ["name"], "Contact": ["email"]}', "Other", {"name"}),
    ],
)
def test_form_fields_forms(value: str, form: str | None, expected: set[str]) -> None:
    settings = load_settings(CreateItemsSettings, webflow_api_token="t" * 10, form_fields=value)
    assert settings.public_fields(form) == frozenset(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [("name,slug", "slug cannot be written"), ('{"*": "name"}', "must be a list"), ("[1]", "list")],
)
def test_bad_form_fields_fail_at_start_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"FORM_FIELDS: .*{message}"):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, form_fields=value)


def test_public_submissions_are_drafts_unless_told_otherwise() -> None:
    base = {"webflow_api_token": "t" * 10, "create_live": "true"}
    assert load_settings(CreateItemsSettings, **base).public_draft() == (True, False)
    published = load_settings(CreateItemsSettings, **base, form_create_as_draft="false")
    assert published.public_draft() == (False, True)


def test_the_public_mapper_drops_fields_the_form_did_not_declare() -> None:
    settings = load_settings(CreateItemsSettings, webflow_api_token="t" * 10, form_fields="name")
    mapper = settings.public_mapper()
    # summary and slug are fields of the collection, but not of the form
    raw = {"name": "Ada", "summary": "written by anyone", "slug": "chosen"}
    assert mapper.prepare_item(raw, SCHEMA) == {"name": "Ada", "slug": "ada"}
    assert settings.mapper().prepare_item(raw, SCHEMA) == {**raw}


def test_keyed_slugs_depend_only_on_the_key() -> None:
    assert keyed_slug("ada", "k1") == keyed_slug("ada", "k1")
    assert keyed_slug("ada", "k1") != keyed_slug("ada", "k2")
    assert keyed_slug("ada", "k1").startswith("ada-")
    assert len(keyed_slug("x" * 300, "k")) <= 256


def test_a_malformed_field_map_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FIELD_MAP: must be a JSON object"):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, field_map="{nope")


@pytest.mark.parametrize(
    ("field_map", "entry"),
    [('{"Email": 1}', "*/Email"), ('{"Contact": {"Name": ""}}', "Contact/Name")],
)
def test_a_field_map_entry_that_names_no_slug_fails_at_start(field_map: str, entry: str) -> None:
    with pytest.raises(
        ConfigError, match=re.escape(f"FIELD_MAP: {entry} must map to a field slug")
    ):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, field_map=field_map)


def test_upload_allowed_extensions_are_read_and_checked_as_upload_asset_does() -> None:
    settings = load_settings(
        CreateItemsSettings, webflow_api_token="t" * 10, upload_allowed_extensions=" PNG, .jpg "
    )
    assert settings.file_extensions == {"png", "jpg"}
    with pytest.raises(ConfigError, match="UPLOAD_ALLOWED_EXTENSIONS: must list only extensions"):
        load_settings(
            CreateItemsSettings, webflow_api_token="t" * 10, upload_allowed_extensions="exe"
        )


def test_an_unknown_unmapped_policy_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="UNMAPPED_FIELDS"):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, unmapped_fields="ignore")


def test_max_items_per_call_cannot_exceed_10000() -> None:
    with pytest.raises(ConfigError, match="MAX_ITEMS_PER_CALL"):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10, max_items_per_call=10_001)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "FORM_TRUSTED_PROXIES: must be between 0 and 10"),
        ("11", "FORM_TRUSTED_PROXIES: must be between 0 and 10"),
        ("1.5", "FORM_TRUSTED_PROXIES: must be an integer"),
        ("one", "FORM_TRUSTED_PROXIES: must be an integer"),
    ],
)
def test_a_bad_trusted_proxy_count_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("FORM_TRUSTED_PROXIES", value)
    with pytest.raises(ConfigError, match=message):
        load_settings(CreateItemsSettings, webflow_api_token="t" * 10)


def test_trusted_proxies_default_to_none_and_take_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(CreateItemsSettings, webflow_api_token="t" * 10).form_trusted_proxies == 0
    monkeypatch.setenv("FORM_TRUSTED_PROXIES", " 1 ")
    assert load_settings(CreateItemsSettings, webflow_api_token="t" * 10).form_trusted_proxies == 1
