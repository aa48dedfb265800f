"""Sync: keep a collection in step with a source by key: create what is new, patch what changed
(only the fields that changed), leave the rest alone, and, for a call that carries the complete
set, archive or delete what disappeared.

The collection is read once (100 items per request) and indexed by the key field (``slug`` or any
field holding a unique external id); each input item is mapped, coerced and validated exactly as a
create would be (shared/cms/items.py), then compared field by field with its match after the same
normalisation on both sides. Creates go 100 per request through the create path (so a create whose
answer was lost resolves to its item by slug), patches 100 per request with only the changed
fields. Run again, a sync writes nothing: it is resumable by construction.

Used by create-items' JSON API (a body with ``"sync": {...}``) and by the ``webflow-functions sync``
command (webflow_cli/sync.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from shared.cms.items import (
    MAX_ITEMS_PER_CALL,
    CreateResult,
    ItemInput,
    Prepared,
    ReferenceLookup,
    _Body,
    prepare_items,
    send_items,
)
from shared.cms.publishing import has_unpublished_changes
from shared.core.log import get_logger
from shared.core.problems import InvalidInput, Unprocessable, upstream_problem
from shared.webflow.errors import NotFoundError, WebflowError
from shared.webflow.models import ErrorInfo, Item, ItemUpdate, WebflowId

if TYPE_CHECKING:
    from shared.cms.fields import FieldMapper
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection
    from shared.webflow.models import Field as SchemaField

__all__ = [
    "MissingPolicy",
    "SyncOptions",
    "SyncOutcome",
    "SyncRequest",
    "SyncResult",
    "sync_items",
]

logger = get_logger(__name__)

MissingPolicy = Literal["archive", "delete", "keep"]
SyncStatus = Literal["created", "updated", "unchanged", "failed"]
# Field types that can hold a unique external id.
KEY_TYPES = frozenset({"PlainText", "Number", "Email", "Link", "Phone"})
Progress = Callable[[str, int, int | None], None]


class SyncOptions(_Body):
    """``"sync"`` of a sync call."""

    key: str = Field(default="slug", min_length=1, max_length=100)
    dry_run: bool = False
    publish: bool = False
    complete: bool = False
    missing: MissingPolicy = "keep"
    cms_locale_id: WebflowId | None = None

    @model_validator(mode="after")
    def _missing_needs_the_complete_set(self) -> SyncOptions:
        if self.missing != "keep" and not self.complete:
            raise ValueError(
                f'missing: "{self.missing}" needs "complete": true (the call says it carries '
                "every item of the collection)"
            )
        return self


class SyncRequest(_Body):
    """Body of a sync call to create-items."""

    collection_id: WebflowId | None = None
    items: list[ItemInput] = Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)
    sync: SyncOptions


@dataclass
class SyncResult:
    """What became of one input item."""

    index: int
    status: SyncStatus
    key: str | None = None
    id: str | None = None
    slug: str | None = None
    changed: list[str] = field(default_factory=list)
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "key": self.key,
            "id": self.id,
            "slug": self.slug,
        }
        if self.status == "updated":
            body["changed"] = self.changed
        if self.error is not None:
            body["error"] = self.error.model_dump(exclude_none=True)
        return body


@dataclass
class MissingItem:
    """An item of the collection absent from a complete set."""

    id: str
    key: str | None
    slug: str | None
    status: Literal["archived", "deleted", "kept", "failed"]
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "slug": self.slug,
            "status": self.status,
        }
        if self.error is not None:
            body["error"] = self.error.model_dump(exclude_none=True)
        return body


@dataclass
class SyncOutcome:
    """A sync's answer: per item, and for the collection's missing items."""

    results: list[SyncResult]
    missing: list[MissingItem] = field(default_factory=list)
    missing_policy: MissingPolicy = "keep"
    dry_run: bool = False
    published: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    retry_after: str | None = None
    # Why the missing items were all kept although the policy says otherwise (rows failed).
    missing_skipped: str | None = None
    # Why the publish step did not happen (Webflow failed it); the writes above stand.
    publish_error: ErrorInfo | None = None

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def failed(self) -> int:
        return (
            self.count("failed")
            + sum(1 for m in self.missing if m.status == "failed")
            + (1 if self.publish_error is not None else 0)
        )

    @property
    def status_code(self) -> int:
        """200 when nothing failed; 207 when some items failed; 422 when every item failed."""
        if not self.failed:
            return 200
        if self.count("failed") == len(self.results) and not self.missing:
            return 422
        return 207

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after} if self.retry_after else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "created": self.count("created"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "failed": self.count("failed"),
            "results": [result.to_json() for result in self.results],
            "missing": {
                "policy": self.missing_policy,
                "count": len(self.missing),
                "items": [item.to_json() for item in self.missing],
                **({"skipped": self.missing_skipped} if self.missing_skipped else {}),
            },
            "published": self.published,
            **(
                {"publishError": self.publish_error.model_dump(exclude_none=True)}
                if self.publish_error
                else {}
            ),
        }


# --- comparing ----------------------------------------------------------------------------------


def canonical(field_type: str | None, value: Any) -> Any:
    """A value as compared: what Webflow stores and what a write sends reduced to the same form
    (an image to its file id and alt, a date to its instant, a number to a float...)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    reduce = _CANONICAL.get(field_type or "")
    if reduce is not None:
        reduced = reduce(value)
        if reduced is not _AS_GIVEN:
            return reduced
    return value.strip() if isinstance(value, str) else value


# What a reducer answers for a value not of its type's shape: compared as given.
_AS_GIVEN = object()


def _file(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return _AS_GIVEN
    return (value.get("fileId") or value.get("url"), value.get("alt") or None)


def _files(value: Any) -> Any:
    if not _is_list(value):
        return _AS_GIVEN
    return tuple(canonical("Image", entry) for entry in value)


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return _AS_GIVEN
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _AS_GIVEN
    try:
        return float(value)
    except ValueError:
        return value


def _references(value: Any) -> Any:
    if not _is_list(value):
        return _AS_GIVEN
    return tuple(sorted(str(entry) for entry in value))


def _colour(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else _AS_GIVEN


def _rich_text(value: Any) -> Any:
    return re.sub(r">\s+<", "><", value.strip()) if isinstance(value, str) else _AS_GIVEN


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


_CANONICAL: dict[str, Callable[[Any], Any]] = {
    "Image": _file,
    "File": _file,
    "MultiImage": _files,
    "DateTime": _instant,
    "Date": _instant,
    "Number": _number,
    "MultiReference": _references,
    "Color": _colour,
    "RichText": _rich_text,
}


def key_text(value: Any) -> str | None:
    """A key field's value as matched (numbers without a trailing .0, text stripped)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or None


def changed_fields(
    schema: Collection, stored: Mapping[str, Any], sent: Mapping[str, Any], compared: set[str]
) -> list[str]:
    """The fields of ``compared`` whose sent value differs from the stored one."""
    changed = []
    for slug in sorted(compared):
        schema_field: SchemaField | None = schema.field(slug)
        kind = schema_field.type if schema_field is not None else None
        if canonical(kind, stored.get(slug)) != canonical(kind, sent.get(slug)):
            changed.append(slug)
    return changed


# --- the sync -----------------------------------------------------------------------------------


def _fail(code: str, message: str) -> ErrorInfo:
    return ErrorInfo(code=code, message=message)


def sync_items(
    client: WebflowClient,
    collection_id: str,
    entries: Sequence[Mapping[str, Any]],
    mapper: FieldMapper,
    options: SyncOptions,
    *,
    default_draft: bool = False,
    progress: Progress | None = None,
    held_back: Sequence[Mapping[str, Any]] = (),
) -> SyncOutcome:
    """Upsert ``entries`` ({"fieldData", "isDraft"?}) into the collection by ``options.key``.

    ``held_back`` are entries of the complete set that failed before the call (a file that could
    not be had): nothing of them is written, but their items are never archived or deleted.

    Raises:
        Unprocessable: the collection does not exist.
        InvalidInput: the key is not a field that can hold a unique id.
        WebflowError: reading the collection failed (nothing was written).
    """
    report = progress or (lambda _stage, _done, _total: None)
    try:
        schema = client.get_collection(collection_id)
    except NotFoundError:
        detail = {"field": "collectionId", "message": "is not a collection the function can reach"}
        raise Unprocessable("collection_not_found", "No such collection", [detail]) from None
    key = _key_field(schema, options.key)
    locale = options.cms_locale_id
    prepared, failed = prepare_items(
        [_with_locale(entry, locale) for entry in entries],
        schema,
        mapper,
        default_draft=default_draft,
        live=False,
        resolve_references=ReferenceLookup(client),
    )
    results: dict[int, SyncResult] = {
        f.index: SyncResult(f.index, "failed", error=f.error) for f in failed
    }
    keyed = _keyed(prepared, key, results)

    stored = _read_collection(client, collection_id, key, locale, report)

    creates: list[Prepared] = []
    updates: list[tuple[Prepared, Item, list[str]]] = []
    for value, entry in keyed:
        matches = stored.get(value, [])
        result = SyncResult(entry.index, "unchanged", key=value, slug=entry.slug)
        results[entry.index] = result
        if len(matches) > 1:
            result.status = "failed"
            result.error = _fail(
                "key_not_unique",
                f"{len(matches)} items of the collection hold {key} '{value}'",
            )
        elif not matches:
            result.status = "created"
            creates.append(entry)
        else:
            match = matches[0]
            result.id, result.slug = match.id, match.slug
            compared = _compared_fields(entry, schema)
            changed = changed_fields(schema, match.field_data, entry.item.field_data, compared)
            if changed:
                result.status, result.changed = "updated", changed
                updates.append((entry, match, changed))

    outcome = SyncOutcome(
        results=[results[i] for i in sorted(results)],
        missing_policy=options.missing,
        dry_run=options.dry_run,
    )
    if options.complete:
        outcome.missing_skipped = _find_missing(
            outcome,
            stored,
            keyed,
            options,
            _failed_keys(entries, held_back, results, schema, mapper, key),
        )
    if options.dry_run:
        return outcome

    written = _write(client, collection_id, creates, updates, results, outcome, options, report)
    if options.publish:
        # What this run wrote, and what an earlier run wrote but could not publish.
        written += _unpublished(keyed, results, stored)
        _publish(client, collection_id, written, locale, outcome)
    logger.info(
        "sync done",
        extra={
            "collection": collection_id,
            "sync": {
                "created": outcome.count("created"),
                "updated": outcome.count("updated"),
                "unchanged": outcome.count("unchanged"),
                "failed": outcome.count("failed"),
                "missing": len(outcome.missing),
            },
        },
    )
    return outcome


def _write(
    client: WebflowClient,
    collection_id: str,
    creates: list[Prepared],
    updates: list[tuple[Prepared, Item, list[str]]],
    results: dict[int, SyncResult],
    outcome: SyncOutcome,
    options: SyncOptions,
    report: Progress,
) -> list[str]:
    """Create, patch, then archive or delete the missing; the ids written. Webflow stopping the
    run fails what was not written yet, with a Retry-After, and deletes nothing after it."""
    locale = options.cms_locale_id
    written: list[str] = []
    settled: set[int] = set()
    try:
        written += _create(client, collection_id, creates, results, settled, report)
        written += _update(client, collection_id, updates, results, settled, locale, report)
        _settle_missing(client, collection_id, outcome, options, locale)
    except WebflowError as exc:
        problem = upstream_problem(exc)
        retry_after = getattr(problem, "retry_after", None)
        outcome.retry_after = str(retry_after) if retry_after else None
        for result in outcome.results:
            if result.status in ("created", "updated") and result.index not in settled:
                result.status = "failed"
                result.error = _fail(problem.code, f"{problem.message}; run the sync again")
        logger.warning("sync stopped by Webflow: run it again", extra={"code": problem.code})
    return written


def _unpublished(
    keyed: Sequence[tuple[str, Prepared]],
    results: Mapping[int, SyncResult],
    stored: Mapping[str, list[Item]],
) -> list[str]:
    """The unchanged items whose staged changes are not live yet (an earlier run's publish
    failed, or never ran)."""
    return [
        match.id
        for value, entry in keyed
        if results[entry.index].status == "unchanged"
        for match in stored.get(value, [])[:1]
        if has_unpublished_changes(match)
    ]


def _find_missing(
    outcome: SyncOutcome,
    stored: Mapping[str, list[Item]],
    keyed: Sequence[tuple[str, Prepared]],
    options: SyncOptions,
    failed_keys: set[str] | None,
) -> str | None:
    """The collection's items absent from a complete set, into ``outcome.missing``; the reason
    they are all kept when a failed row's key could not be read (None: it could)."""
    if failed_keys is None:
        return (
            "a row failed before its key could be read: nothing is archived or deleted "
            "(mend the row and sync again)"
        )
    # A row that failed still names its item: it is not missing, only not updated.
    present = {value for value, _ in keyed} | failed_keys
    outcome.missing = [
        MissingItem(item.id, value, item.slug, "kept")
        for value, items in stored.items()
        if value not in present
        for item in items
        if not (options.missing == "archive" and item.is_archived)
    ]
    return None


def _failed_keys(
    entries: Sequence[Mapping[str, Any]],
    held_back: Sequence[Mapping[str, Any]],
    results: Mapping[int, SyncResult],
    schema: Collection,
    mapper: FieldMapper,
    key: str,
) -> set[str] | None:
    """The key values of the rows that failed before anything was written (invalid, repeated
    key, held back); None when one of them has no key that can be read."""
    keys: set[str] = set()
    rows = [entries[r.index] for r in results.values() if r.status == "failed"]
    for row in [*rows, *held_back]:
        value = _raw_key(row, schema, mapper, key)
        if value is None:
            return None
        keys.add(value)
    return keys


def _raw_key(
    entry: Mapping[str, Any], schema: Collection, mapper: FieldMapper, key: str
) -> str | None:
    """The key value of an entry as the caller gave it (under any name that maps to the key)."""
    data = entry.get("fieldData")
    if not isinstance(data, Mapping):
        return None
    for name, value in data.items():
        if name == key or mapper.target_slug(str(name), schema) == key:
            return key_text(value)
    return None


def _publish(
    client: WebflowClient,
    collection_id: str,
    item_ids: list[str],
    locale: str | None,
    outcome: SyncOutcome,
) -> None:
    """Publish what the sync wrote; a failure is reported with the results, which stand (a rerun
    publishes what is still unpublished)."""
    if not item_ids:
        return
    try:
        published = client.publish_items(
            collection_id, item_ids, cms_locale_ids=[locale] if locale else None
        )
    except WebflowError as exc:
        problem = upstream_problem(exc)
        outcome.publish_error = _fail(problem.code, f"{problem.message}; run the sync again")
        retry_after = getattr(problem, "retry_after", None)
        outcome.retry_after = outcome.retry_after or (str(retry_after) if retry_after else None)
        logger.warning("sync publish failed: run it again", extra={"code": problem.code})
        return
    outcome.published = list(published.published_item_ids)


def _read_collection(
    client: WebflowClient, collection_id: str, key: str, locale: str | None, report: Progress
) -> dict[str, list[Item]]:
    """The collection's items by key value, read 100 per request."""
    stored: dict[str, list[Item]] = {}
    offset = 0
    report("read", 0, None)
    while True:
        page = client.list_items(collection_id, offset=offset, cms_locale_id=locale)
        for item in page.items:
            value = key_text(item.field_data.get(key))
            if value is not None:
                stored.setdefault(value, []).append(item)
        offset += len(page.items)
        report("read", offset, page.pagination.total)
        if not page.items or offset >= page.pagination.total:
            return stored


def _key_field(schema: Collection, key: str) -> str:
    if key == "slug":
        return key
    found = schema.field(key)
    if found is None or found.type not in KEY_TYPES:
        allowed = sorted(f.slug for f in schema.fields if f.type in KEY_TYPES)
        raise InvalidInput(
            "invalid_key",
            "The sync key must be slug or a field that can hold a unique id",
            [
                {
                    "field": "sync.key",
                    "message": f"'{key}' is not such a field of this collection; "
                    f"one of: slug, {', '.join(allowed)}",
                }
            ],
        )
    return found.slug


def _with_locale(entry: Mapping[str, Any], locale: str | None) -> Mapping[str, Any]:
    if locale and not entry.get("cmsLocaleIds"):
        return {**entry, "cmsLocaleIds": [locale]}
    return entry


def _keyed(
    prepared: Sequence[Prepared], key: str, results: dict[int, SyncResult]
) -> list[tuple[str, Prepared]]:
    """(key value, item) of the items whose key is set and not repeated in the input."""
    by_value: dict[str, list[Prepared]] = {}
    for entry in prepared:
        value = key_text(entry.item.field_data.get(key))
        if value is None:
            results[entry.index] = SyncResult(
                entry.index, "failed", error=_fail("missing_key", f"the key field {key} is empty")
            )
            continue
        by_value.setdefault(value, []).append(entry)
    keyed = []
    for value, group in by_value.items():
        if len(group) > 1:
            rows = ", ".join(str(entry.index) for entry in group)
            for entry in group:
                results[entry.index] = SyncResult(
                    entry.index,
                    "failed",
                    key=value,
                    error=_fail("duplicate_key", f"{key} '{value}' is repeated (items {rows})"),
                )
            continue
        keyed.append((value, group[0]))
    return keyed


def _compared_fields(entry: Prepared, schema: Collection) -> set[str]:
    """The fields a sync compares: those the caller gave (FIELD_DEFAULTS' too), those it gave
    empty (null, "", []: a match holding a value has it cleared; a required one has already
    failed its item), and the slug only when given (a derived slug says nothing about a change)."""
    fields = set(entry.item.field_data)
    fields |= {slug for slug in entry.caller_names if schema.field(slug) is not None}
    if "slug" not in entry.caller_names:
        fields.discard("slug")
    return fields


def _create(
    client: WebflowClient,
    collection_id: str,
    creates: list[Prepared],
    results: dict[int, SyncResult],
    settled: set[int],
    report: Progress,
) -> list[str]:
    if not creates:
        return []
    report("create", 0, len(creates))
    created, retry_after = send_items(client, collection_id, creates, live=False)
    written = []
    for outcome in created:
        result = results[outcome.index]
        _apply_create(result, outcome)
        settled.add(outcome.index)
        if result.status == "created" and result.id:
            written.append(result.id)
    report("create", len(creates), len(creates))
    if retry_after:
        logger.info("creates stopped by the rate limit", extra={"retryAfter": retry_after})
    return written


def _apply_create(result: SyncResult, outcome: CreateResult) -> None:
    result.id, result.slug = outcome.id, outcome.slug or result.slug
    if outcome.status == "existing":
        result.status = "unchanged"  # the same item, made by an earlier run whose answer was lost
    elif outcome.status == "failed":
        result.status, result.error = "failed", outcome.error


def _update(
    client: WebflowClient,
    collection_id: str,
    updates: list[tuple[Prepared, Item, list[str]]],
    results: dict[int, SyncResult],
    settled: set[int],
    locale: str | None,
    report: Progress,
) -> list[str]:
    if not updates:
        return []
    report("update", 0, len(updates))
    patches = [
        ItemUpdate(
            id=match.id,
            field_data={slug: entry.item.field_data.get(slug) for slug in changed},
            cms_locale_id=locale,
        )
        for entry, match, changed in updates
    ]
    answers = client.update_items(collection_id, patches)
    written = []
    for (entry, match, _changed), answer in zip(updates, answers, strict=True):
        result = results[entry.index]
        settled.add(entry.index)
        if answer.ok:
            written.append(match.id)
        else:
            result.status, result.error = "failed", answer.error
    report("update", len(updates), len(updates))
    return written


def _settle_missing(
    client: WebflowClient,
    collection_id: str,
    outcome: SyncOutcome,
    options: SyncOptions,
    locale: str | None,
) -> None:
    if not outcome.missing or options.missing == "keep":
        return
    ids = [item.id for item in outcome.missing]
    if options.missing == "delete":
        client.delete_items(collection_id, ids, cms_locale_ids=[locale] if locale else None)
        for item in outcome.missing:
            item.status = "deleted"
        return
    answers = client.update_items(
        collection_id,
        [ItemUpdate(id=item_id, is_archived=True, cms_locale_id=locale) for item_id in ids],
    )
    for item, answer in zip(outcome.missing, answers, strict=True):
        item.status, item.error = ("archived", None) if answer.ok else ("failed", answer.error)
