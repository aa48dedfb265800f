"""Create orchestration: items go out in bulk; slugs make a resubmission resolve, not duplicate.

The slug is the idempotency key (no datastore): an item whose slug is taken by an item with the same
content is that item ("existing"); one whose slug is taken by a different item gets "-2", "-3", ...
On the happy path nothing is looked up before sending: collisions are learnt from Webflow's
duplicate-slug answers and only then resolved, so N items cost one schema fetch plus N/100 creates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

from shared.cms.fields import (
    SLUG_MAX_LENGTH,
    FieldError,
    FieldMapper,
    FieldValidationError,
    ReferenceResolver,
    field_data_matches,
    normalise_field_data,
)
from shared.cms.references import MAX_ITEMS_PER_CALL, ReferenceLookup, collection_schema
from shared.cms.results import BatchOutcome
from shared.cms.settings import MappingSettings
from shared.core.log import get_logger
from shared.core.problems import (
    InvalidInput,
    Unavailable,
    upstream_problem,
    webflow_details,
    whole_seconds,
)
from shared.webflow.errors import WebflowError
from shared.webflow.models import Collection, ErrorInfo, Item, NewItem, WebflowId
from shared.webflow.slugs import SlugHolders

if TYPE_CHECKING:
    from shared.webflow import WebflowClient

__all__ = [
    "MAX_ITEMS_PER_CALL",
    "CreateItemsRequest",
    "CreateOutcome",
    "CreateResult",
    "ItemInput",
    "Prepared",
    "ReferenceLookup",
    "SlugIndex",
    "collection_schema",
    "content_key",
    "create_from_request",
    "create_items",
    "keyed_slug",
    "prepare_items",
    "requested_collection",
    "send_items",
]

CHUNK_SIZE = 100
MAX_ROUNDS = 8
MAX_SUFFIX = 1000
MAX_ECHOED_FIELDS = 20
MAX_ECHOED_NAME = 100

logger = get_logger(__name__)


# --- requests ------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )


class ItemInput(_Body):
    """One item of a JSON call."""

    field_data: dict[str, Any]
    cms_locale_ids: list[WebflowId] | None = Field(default=None, min_length=1)
    is_draft: bool | None = None


class CreateItemsRequest(_Body):
    """Body of a JSON create-items call."""

    collection_id: WebflowId | None = None
    items: list[ItemInput] = Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)
    live: bool | None = None


# --- results -------------------------------------------------------------------------------

Status = Literal["created", "existing", "failed"]


@dataclass
class CreateResult:
    """The outcome of one requested item, at its input index."""

    index: int
    status: Status
    id: str | None = None
    slug: str | None = None
    error: ErrorInfo | None = None
    item: Item | None = field(default=None, repr=False)
    ignored_fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The item's entry in the answer."""
        body: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "id": self.id,
            "slug": self.slug,
        }
        if self.ignored_fields:
            # Capped: a body of a million names must not be echoed back a million times.
            body["ignoredFields"] = [name[:MAX_ECHOED_NAME] for name in self.ignored_fields][
                :MAX_ECHOED_FIELDS
            ]
            if len(self.ignored_fields) > MAX_ECHOED_FIELDS:
                body["ignoredFieldCount"] = len(self.ignored_fields)
        if self.error is not None:
            body["error"] = {
                "code": self.error.code,
                "message": self.error.message,
                "details": self.error.details,
            }
        return body


@dataclass
class CreateOutcome(BatchOutcome[CreateResult]):
    """Every item's result: 201 some created, 200 all existing, 207 some failed, else 400/422/503."""

    counted: ClassVar[Mapping[str, str]] = {
        "created": "created",
        "existing": "existing",
        "failed": "failed",
    }
    verb: ClassVar[str] = "created"

    def _success_status(self) -> int:
        return 201 if self.count("created") else 200

    def _failure_status(self, codes: set[str]) -> int:
        return 400 if codes == {"invalid_fields"} else 422


def _failure(code: str, message: str, details: list[dict[str, Any]] | None = None) -> ErrorInfo:
    return ErrorInfo(code=code, message=message, details=details or [])


SlugKey = Callable[[Mapping[str, Any]], str]
_KEY_DIGITS = 8


def keyed_slug(base: str, key: str) -> str:
    """``base`` ending in ``-`` and 8 hex digits of ``key``'s SHA-256 (within the slug limit)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:_KEY_DIGITS]
    return f"{base[: SLUG_MAX_LENGTH - _KEY_DIGITS - 1].rstrip('-')}-{digest}"


def content_key(field_data: Mapping[str, Any]) -> str:
    """A submission's key from its values (slug aside): the same post twice has the same key."""
    return json.dumps(normalise_field_data(_content_of(field_data)), sort_keys=True, default=str)


def _content_of(field_data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in field_data.items() if key != "slug"}


# --- preparing -----------------------------------------------------------------------------


@dataclass
class Prepared:
    """A validated item ready to send, with what is needed to name its errors."""

    index: int
    item: NewItem
    base_slug: str
    caller_names: dict[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The slug it will be sent with."""
        return str(self.item.field_data["slug"])


def prepare_items(
    entries: Sequence[Mapping[str, Any]],
    schema: Collection,
    mapper: FieldMapper,
    *,
    default_draft: bool,
    live: bool,
    form_name: str | None = None,
    resolve_references: ReferenceResolver | None = None,
    deferred: Iterable[str] = (),
    slug_key: SlugKey | None = None,
) -> tuple[list[Prepared], list[CreateResult]]:
    """Validate every entry ({"fieldData", "isDraft"?, "cmsLocaleIds"?}); nothing is sent here.

    With ``slug_key`` (public input), each slug ends in a short digest of the item's key, so that
    it can only ever collide with, and resolve to, an item of the same submission.
    """
    prepared: list[Prepared] = []
    failed: list[CreateResult] = []
    deferred = frozenset(deferred)
    for index, entry in enumerate(entries):
        raw = entry.get("fieldData") or {}
        try:
            field_data = mapper.prepare_item(
                raw,
                schema,
                form_name=form_name,
                resolve_references=resolve_references,
                deferred=deferred,
            )
        except FieldValidationError as exc:
            failed.append(
                CreateResult(index, "failed", error=_failure(exc.code, exc.message, exc.details))
            )
            continue
        if slug_key is not None:
            field_data["slug"] = keyed_slug(str(field_data["slug"]), slug_key(field_data))
        # Live items are published, so never drafts; otherwise isDraft is always explicit.
        requested = entry.get("isDraft")
        is_draft = False if live else (default_draft if requested is None else bool(requested))
        item = NewItem(
            field_data=field_data, is_draft=is_draft, cms_locale_ids=entry.get("cmsLocaleIds")
        )
        names = mapper.caller_names(schema, raw.keys(), form_name=form_name)
        prepared.append(Prepared(index, item, field_data["slug"], names))
    return prepared, failed


# --- sending -------------------------------------------------------------------------------


def _suffixed(base: str, number: int) -> str:
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix


def _with_slug(entry: Prepared, slug: str) -> Prepared:
    item = entry.item.model_copy(update={"field_data": {**entry.item.field_data, "slug": slug}})
    return Prepared(entry.index, item, entry.base_slug, entry.caller_names)


def _same_content(sent: NewItem, stored: Mapping[str, Any]) -> bool:
    return field_data_matches(_content_of(sent.field_data), stored)


# Who holds a slug: one owner, shared with the client's settling of lost answers.
SlugIndex = SlugHolders


@dataclass
class _Sender:
    """One create call's state: results by index and slugs claimed by its own items."""

    client: WebflowClient
    collection_id: str
    live: bool
    results: dict[int, CreateResult] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    retry_after: str | None = None

    def send(self, batch: list[Prepared]) -> list[Prepared]:
        """Create ``batch`` (the client sends 100 per request); return the items whose slug collided.

        When a request fails as a whole part-way, the items settled before it keep their results
        (created ones are reported created) and the others are reported unsent.
        """
        collided: list[Prepared] = []
        try:
            outcomes = self.client.create_items(
                self.collection_id, [entry.item for entry in batch], live=self.live
            )
            stopped: WebflowError | None = None
        except WebflowError as exc:
            outcomes, stopped = exc.partial_results, exc
        settled: set[int] = set()
        for outcome in outcomes:
            entry = batch[outcome.index]
            settled.add(outcome.index)
            if outcome.status == "created" and outcome.item is not None:
                self.results[entry.index] = CreateResult(
                    entry.index, "created", outcome.item.id, entry.slug, item=outcome.item
                )
            elif outcome.error is not None and outcome.error.code == "duplicate_slug":
                collided.append(entry)
            else:
                self.results[entry.index] = self._failed(entry, outcome.error)
        if stopped is None:
            return collided
        # Items that collided in this round were not created either.
        unsent = [entry for position, entry in enumerate(batch) if position not in settled]
        self._stop(stopped, collided + unsent)
        return []

    def resolve(self, collided: list[Prepared], index: SlugIndex) -> list[Prepared]:
        """Resolve collisions to existing items or to free suffixed slugs; return those to send.

        A look-up that fails stops the call: the collided items still without a result are
        reported unsent (what earlier rounds created stays reported).
        """
        index.remember(r.item for r in self.results.values() if r.item is not None)
        batch: list[Prepared] = []
        try:
            index.preload(len(collided))
            for entry in collided:
                index.taken(entry.slug)
                outcome = _resolve_collision(entry, index, self.claimed)
                if isinstance(outcome, CreateResult):
                    self.results[entry.index] = outcome
                else:
                    self.claimed.add(outcome.slug)
                    batch.append(outcome)
        except WebflowError as exc:
            self._stop(exc, [entry for entry in collided if entry.index not in self.results])
            return []
        return batch

    def _failed(self, entry: Prepared, error: ErrorInfo | None) -> CreateResult:
        if error is None:
            error = _failure("not_created", "Webflow did not create the item")
        details = webflow_details(error.details, lambda slug: entry.caller_names.get(slug, slug))
        error = error.model_copy(update={"details": details})
        return CreateResult(entry.index, "failed", slug=entry.slug, error=error)

    def _stop(self, exc: WebflowError, unsent: list[Prepared]) -> None:
        """A whole request failed: raise if nothing was (or may have been) written yet, else
        report the rest failed."""
        if not any(_maybe_written(result) for result in self.results.values()):
            raise exc
        problem = upstream_problem(exc)
        code = problem.code
        if isinstance(problem, Unavailable):
            self.retry_after = whole_seconds(problem.retry_after)
        logger.warning(
            "create stopped after a failed request", extra={"unsent": len(unsent), "code": code}
        )
        for entry in unsent:
            error = _failure(code, problem.message, problem.details)
            self.results[entry.index] = CreateResult(
                entry.index, "failed", slug=entry.slug, error=error
            )


def _maybe_written(result: CreateResult) -> bool:
    """True unless the item certainly was not created by this call (or found existing)."""
    return result.status != "failed" or (
        result.error is not None and result.error.code == "outcome_unknown"
    )


def _resolve_collision(
    entry: Prepared, index: SlugIndex, claimed: set[str]
) -> CreateResult | Prepared:
    """The existing item with the same content (base, -2, -3...), or the entry on a free slug."""
    for number in range(1, MAX_SUFFIX + 1):
        slug = _suffixed(entry.base_slug, number)
        if slug in claimed and slug != entry.slug:
            continue  # another item of this call holds or will hold it
        holder = index.holder(slug)
        if holder is None:
            return _with_slug(entry, slug)
        if _same_content(entry.item, holder.field_data):
            return CreateResult(entry.index, "existing", holder.id, slug, item=holder)
    error = _failure("duplicate_slug", f"No free slug for '{entry.base_slug}' up to -{MAX_SUFFIX}")
    return CreateResult(entry.index, "failed", slug=entry.slug, error=error)


def send_items(
    client: WebflowClient, collection_id: str, prepared: Sequence[Prepared], *, live: bool
) -> tuple[list[CreateResult], str | None]:
    """Create the prepared items; collisions resolve to existing items or to suffixed slugs."""
    sender = _Sender(client, collection_id, live)
    leaders: dict[tuple[str, str], int] = {}
    followers: dict[int, list[int]] = {}
    batch: list[Prepared] = []
    for entry in prepared:
        key = (entry.base_slug, content_key(entry.item.field_data))
        if key in leaders:  # the same item twice in one call: created once
            followers.setdefault(leaders[key], []).append(entry.index)
            continue
        leaders[key] = entry.index
        if entry.slug in sender.claimed:
            number = 2
            while _suffixed(entry.base_slug, number) in sender.claimed:
                number += 1
            entry = _with_slug(entry, _suffixed(entry.base_slug, number))
        sender.claimed.add(entry.slug)
        batch.append(entry)

    index = SlugIndex(client, collection_id)
    for _ in range(MAX_ROUNDS):
        collided = sender.send(batch)
        batch = sender.resolve(collided, index) if collided else []
        if not batch:
            break
    for entry in batch:
        error = _failure("duplicate_slug", f"Slug '{entry.slug}' kept colliding")
        sender.results[entry.index] = CreateResult(
            entry.index, "failed", slug=entry.slug, error=error
        )

    for leader_index, indexes in followers.items():
        leader_result = sender.results[leader_index]
        for follower in indexes:
            status: Status = "failed" if leader_result.status == "failed" else "existing"
            sender.results[follower] = CreateResult(
                follower,
                status,
                leader_result.id,
                leader_result.slug,
                leader_result.error,
                leader_result.item,
            )
    return [sender.results[i] for i in sorted(sender.results)], sender.retry_after


def create_items(
    client: WebflowClient,
    collection_id: str,
    entries: Sequence[Mapping[str, Any]],
    mapper: FieldMapper,
    *,
    default_draft: bool,
    live: bool,
    form_name: str | None = None,
    deferred: Iterable[str] = (),
    schema: Collection | None = None,
    slug_key: SlugKey | None = None,
) -> CreateOutcome:
    """Validate then create ``entries``; one result per entry, in input order.

    Raises:
        FieldValidationError: when no entry is valid (400, details named "items[i].field").
        WebflowError: when Webflow fails before anything was written.
    """
    if schema is None:
        schema = client.get_collection(collection_id)
    prepared, failed = prepare_items(
        entries,
        schema,
        mapper,
        default_draft=default_draft,
        live=live,
        form_name=form_name,
        resolve_references=ReferenceLookup(client),
        deferred=deferred,
        slug_key=slug_key,
    )
    if not prepared:
        raise _all_invalid(failed, single=len(entries) == 1)
    sent, retry_after = send_items(client, collection_id, prepared, live=live)
    results = sorted([*failed, *sent], key=lambda result: result.index)
    if mapper.unmapped == "drop":
        for result in results:
            raw = entries[result.index].get("fieldData") or {}
            result.ignored_fields = _unmapped_names(raw, schema, mapper, form_name)
    return CreateOutcome(results, retry_after)


def _unmapped_names(
    raw: Mapping[str, Any], schema: Collection, mapper: FieldMapper, form_name: str | None
) -> list[str]:
    """The caller's fields that UNMAPPED_FIELDS=drop left out: named so a typo is not silent."""
    return [
        str(name)
        for name in raw
        if mapper.target_slug(str(name), schema, form_name=form_name) is None
    ]


def create_from_request(
    client: WebflowClient, settings: MappingSettings, request: CreateItemsRequest
) -> CreateOutcome:
    """Create the items of a JSON call in the collection it names (or WEBFLOW_COLLECTION_ID)."""
    collection_id = requested_collection(settings, request)
    schema = collection_schema(client, collection_id, named_by_caller=bool(request.collection_id))
    entries = [item.model_dump(by_alias=True, exclude_none=True) for item in request.items]
    return create_items(
        client,
        collection_id,
        entries,
        settings.mapper(),
        default_draft=settings.create_as_draft,
        live=settings.create_live if request.live is None else request.live,
        schema=schema,
    )


class _CallBody(Protocol):
    """What requested_collection reads of a call (a create, a sync)."""

    @property
    def collection_id(self) -> str | None: ...

    @property
    def items(self) -> Sized: ...


def requested_collection(settings: MappingSettings, request: _CallBody) -> str:
    """The collection a JSON call writes to, once its size is checked.

    Raises:
        InvalidInput: too many items, or no collection named and none configured.
    """
    if len(request.items) > settings.max_items_per_call:
        limit = settings.max_items_per_call
        detail = {"field": "items", "message": f"at most {limit} items per call"}
        raise InvalidInput("too_many_items", f"At most {limit} items per call", [detail])
    collection_id = request.collection_id or settings.webflow_collection_id
    if not collection_id:
        detail = {
            "field": "collectionId",
            "message": "is required (no default collection is configured)",
        }
        raise InvalidInput("invalid_request", "collectionId is required", [detail])
    return collection_id


def _all_invalid(failed: list[CreateResult], *, single: bool) -> FieldValidationError:
    errors: list[FieldError] = []
    for result in failed:
        for detail in result.error.details if result.error else []:
            name = (
                detail["field"] if single else f"items[{result.index}].fieldData.{detail['field']}"
            )
            errors.append(FieldError(name, detail["message"]))
    return FieldValidationError(
        errors, message="No item is valid" if not single else "Some fields are invalid"
    )
