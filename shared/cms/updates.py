"""Update orchestration: partial patches of items addressed by id or slug, staged or live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shared.cms.fields import (
    FieldError,
    FieldMapper,
    FieldValidationError,
    field_table_setting,
    parse_field_table,
)
from shared.cms.publishing import PendingItem, PublishReport, publish_entries
from shared.cms.references import MAX_ITEMS_PER_CALL, ReferenceLookup, collection_schema
from shared.cms.results import BatchOutcome
from shared.core.config import FunctionSettings, api_keys_of
from shared.core.log import get_logger
from shared.core.problems import (
    InvalidInput,
    Unavailable,
    upstream_problem,
    webflow_details,
    whole_seconds,
)
from shared.webflow.errors import WebflowError
from shared.webflow.failures import is_transient
from shared.webflow.models import Collection, ErrorInfo, Item, ItemResult, ItemUpdate, WebflowId
from shared.webflow.slugs import SlugHolders as SlugIndex

if TYPE_CHECKING:
    from shared.webflow import WebflowClient

__all__ = [
    "MAX_ITEMS_PER_CALL",
    "ItemPatch",
    "UpdateItemsRequest",
    "UpdateItemsSettings",
    "UpdateOutcome",
    "UpdateResult",
    "apply_updates",
    "update_items",
]

logger = get_logger(__name__)


class UpdateItemsSettings(FunctionSettings):
    """Settings of update-items (on top of the Webflow ones)."""

    update_items_api_keys: SecretStr | None = None
    create_items_api_keys: SecretStr | None = None
    update_items_max_body_bytes: int = Field(default=10_000_000, gt=0)
    field_map: str | None = None

    _mapper: FieldMapper | None = PrivateAttr(default=None)

    @field_validator("field_map", mode="before")
    @classmethod
    def _field_table(cls, value: Any) -> Any:
        return field_table_setting(value, "FIELD_MAP")  # a malformed table fails at start

    def mapper(self) -> FieldMapper:
        """Caller names mapped by FIELD_MAP (as for create-items); unknown fields are rejected.

        Built once.
        """
        if self._mapper is None:
            self._mapper = FieldMapper(
                field_map=parse_field_table(self.field_map, "FIELD_MAP"), unmapped="reject"
            )
        return self._mapper

    @property
    def api_keys(self) -> list[str]:
        """Accepted API keys: UPDATE_ITEMS_API_KEYS (CREATE_ITEMS_API_KEYS stands in only in a local run)."""
        return api_keys_of(self.update_items_api_keys, self.create_items_api_keys)


class ItemPatch(BaseModel):
    """One item to change, addressed by its id or its current slug; only the given fields change."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )

    id: WebflowId | None = None
    slug: str | None = Field(default=None, min_length=1)
    cms_locale_id: WebflowId | None = None
    field_data: dict[str, Any] = Field(default_factory=dict)
    is_archived: bool | None = None
    is_draft: bool | None = None

    @model_validator(mode="after")
    def _addressed_once(self) -> ItemPatch:
        if (self.id is None) == (self.slug is None):
            raise ValueError("give exactly one of id and slug")
        if not self.field_data and self.is_archived is None and self.is_draft is None:
            raise ValueError("nothing to update: give fieldData, isArchived or isDraft")
        return self


class UpdateItemsRequest(BaseModel):
    """Body of an update-items call."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )

    collection_id: WebflowId | None = None
    items: list[ItemPatch] = Field(min_length=1, max_length=MAX_ITEMS_PER_CALL)
    live: bool = False


Status = Literal["updated", "not_found", "failed"]
STATUSES: tuple[Status, ...] = ("updated", "not_found", "failed")


@dataclass
class UpdateResult:
    """The outcome of one requested item, at its input index."""

    index: int
    status: Status
    id: str | None = None
    slug: str | None = None
    live: bool | None = None
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        """The item's entry in the answer."""
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.id is not None:
            body["id"] = self.id
        if self.slug is not None:
            body["slug"] = self.slug
        if self.live is not None:
            body["live"] = self.live
        if self.error is not None:
            body["error"] = {"code": self.error.code, "message": self.error.message}
            if self.error.details:
                body["error"]["details"] = self.error.details
        return body


@dataclass
class UpdateOutcome(BatchOutcome[UpdateResult]):
    """Every item's result: 200 all updated, 207 some; none: 503 unavailable, 404 none found, 422."""

    counted: ClassVar[Mapping[str, str]] = {
        "updated": "updated",
        "notFound": "not_found",
        "failed": "failed",
    }
    failures: ClassVar[frozenset[str]] = frozenset({"not_found", "failed"})
    verb: ClassVar[str] = "updated"

    def _failure_status(self, codes: set[str]) -> int:
        return 404 if self.count("not_found") == len(self.results) else 422


SlugKey = tuple[str, str | None]


class _SlugHolders:
    """Who holds each (slug, cmsLocaleId) now, each looked up once per call.

    Primary-locale slugs go through the create path's SlugIndex, which lists the whole collection
    instead when that costs fewer requests; localized slugs are looked up one by one.
    """

    def __init__(self, client: WebflowClient, collection_id: str, keys: Sequence[SlugKey]) -> None:
        distinct = list(dict.fromkeys(keys))
        self._primary = SlugIndex(client, collection_id)
        self._primary.preload(sum(locale is None for _, locale in distinct))
        self._localized = {
            (slug, locale): client.find_item_by_slug(collection_id, slug, cms_locale_id=locale)
            for slug, locale in distinct
            if locale is not None
        }

    def holder(self, slug: str, cms_locale_id: str | None) -> Item | None:
        """The item holding ``slug`` in the locale (primary when None), or None."""
        if cms_locale_id is None:
            return self._primary.holder(slug)
        return self._localized[(slug, cms_locale_id)]


def _not_found(index: int, patch: ItemPatch) -> UpdateResult:
    what = f"id {patch.id!r}" if patch.id is not None else f"slug {patch.slug!r}"
    error = ErrorInfo(code="not_found", message=f"No item with {what}", status_code=404)
    return UpdateResult(index, "not_found", id=patch.id, slug=patch.slug, error=error)


def update_items(
    client: WebflowClient,
    collection_id: str,
    request: UpdateItemsRequest,
    coerced: Sequence[dict[str, Any]],
) -> UpdateOutcome:
    """Apply the request's patches (field data already coerced) and report per item, in input order.

    Slugs are resolved to ids with one lookup per distinct slug and locale; a slug equal to the
    item's current one is not re-sent; a new slug that another item holds fails that item alone.
    With ``live``, items that were never published (409) get a staged patch followed by a publish.
    """
    patches = request.items
    keys: list[SlugKey] = [(p.slug, p.cms_locale_id) for p in patches if p.slug is not None]
    keys += [
        (data["slug"], p.cms_locale_id)
        for p, data in zip(patches, coerced, strict=True)
        if isinstance(data.get("slug"), str)
    ]
    holders = _SlugHolders(client, collection_id, keys)

    results: dict[int, UpdateResult] = {}
    pending: list[tuple[int, ItemUpdate]] = []
    for index, (patch, data) in enumerate(zip(patches, coerced, strict=True)):
        item_id = patch.id
        current_slug: str | None = None
        if patch.slug is not None:
            holder = holders.holder(patch.slug, patch.cms_locale_id)
            if holder is None:
                results[index] = _not_found(index, patch)
                continue
            item_id, current_slug = holder.id, patch.slug
        assert item_id is not None
        field_data = dict(data)
        new_slug = field_data.get("slug")
        if isinstance(new_slug, str):
            holder = holders.holder(new_slug, patch.cms_locale_id)
            if new_slug == current_slug or (holder is not None and holder.id == item_id):
                # Webflow rejects an item's own unchanged slug as a duplicate: leave it out.
                del field_data["slug"]
            elif holder is not None:
                error = ErrorInfo(
                    code="duplicate_slug",
                    message=f"Slug {new_slug!r} is already used by item {holder.id}",
                    details=[{"field": "slug", "message": "Unique value is already in database"}],
                    status_code=400,
                )
                results[index] = UpdateResult(
                    index, "failed", id=item_id, slug=patch.slug, error=error
                )
                continue
        update = ItemUpdate(
            id=item_id,
            field_data=field_data,
            is_draft=patch.is_draft,
            is_archived=patch.is_archived,
            cms_locale_id=patch.cms_locale_id,
        )
        pending.append((index, update))

    stopped = _apply(client, collection_id, pending, patches, results, live=request.live)
    problem = upstream_problem(stopped) if stopped else None
    retry_after = whole_seconds(problem.retry_after) if isinstance(problem, Unavailable) else None
    return UpdateOutcome([results[index] for index in range(len(patches))], retry_after)


Batch = Sequence[tuple[int, ItemUpdate]]


def _is_conflict(outcome: ItemResult) -> bool:
    """True for a 409: a live update of an item that was never published."""
    return outcome.error is not None and outcome.error.status_code == 409


def _patch_all(
    client: WebflowClient, collection_id: str, pending: Batch, *, live: bool
) -> tuple[dict[int, ItemResult], WebflowError | None]:
    """PATCH every update; a rate limit or outage stops the sending and is returned.

    The client pins refusals (never-published items included) on their items, and on a stop
    still reports the items it had settled.
    """
    try:
        outcomes = client.update_items(collection_id, [update for _, update in pending], live=live)
        stopped: WebflowError | None = None
    except WebflowError as exc:
        if not is_transient(exc):
            raise
        # The client has spent its retry budget on it: report what it settled, stop the rest.
        outcomes, stopped = exc.partial_results, exc
    return {pending[outcome.index][0]: outcome for outcome in outcomes}, stopped


def _apply(
    client: WebflowClient,
    collection_id: str,
    pending: Batch,
    patches: Sequence[ItemPatch],
    results: dict[int, UpdateResult],
    *,
    live: bool,
) -> WebflowError | None:
    """Send the updates and record each outcome; return the failure that stopped the sending.

    Never-published items fall back to a staged patch and a publish when ``live``. A rate limit or
    outage before anything was written is raised (the whole call answers 503).
    """
    outcomes, stopped = _patch_all(client, collection_id, pending, live=live)
    if stopped is not None and not outcomes:
        raise stopped
    conflicts: list[tuple[int, ItemUpdate]] = []
    for index, update in pending:
        outcome = outcomes.get(index)
        if outcome is None:
            results[index] = _stopped(index, update, patches[index], stopped)
        elif live and _is_conflict(outcome):
            conflicts.append((index, update))
        else:
            results[index] = _result(index, update, patches[index], outcome, live=live or None)
    if conflicts and stopped is None:
        return _stage_and_publish(client, collection_id, conflicts, patches, results)
    for index, update in conflicts:
        results[index] = _stopped(index, update, patches[index], stopped)
    return stopped


def _stopped(
    index: int, update: ItemUpdate, patch: ItemPatch, error: WebflowError | None
) -> UpdateResult:
    """An item left unsent because Webflow was rate limiting or unavailable."""
    info = ErrorInfo(
        code="upstream_unavailable",
        message=f"Not sent: Webflow is rate limiting or unavailable ({error}); retry later",
        status_code=getattr(error, "status_code", None),
    )
    return UpdateResult(index, "failed", id=update.id, slug=patch.slug, error=info)


def _result(
    index: int, update: ItemUpdate, patch: ItemPatch, outcome: ItemResult, *, live: bool | None
) -> UpdateResult:
    """Translate one item's outcome into this function's result."""
    slug = outcome.item.slug if outcome.item is not None else patch.slug
    if outcome.status == "updated":
        return UpdateResult(index, "updated", id=update.id, slug=slug, live=live)
    if outcome.status == "not_found":
        return _not_found(index, patch)
    failure = outcome.error
    if failure is not None:
        failure = failure.model_copy(update={"details": webflow_details(failure.details)})
    return UpdateResult(index, "failed", id=update.id, slug=slug, error=failure)


def _stage_and_publish(
    client: WebflowClient,
    collection_id: str,
    conflicts: Batch,
    patches: Sequence[ItemPatch],
    results: dict[int, UpdateResult],
) -> WebflowError | None:
    """Never-published items cannot be patched live: patch them staged, then publish them."""
    outcomes, stopped = _patch_all(client, collection_id, conflicts, live=False)
    staged: list[tuple[ItemUpdate, UpdateResult]] = []
    for index, update in conflicts:
        outcome = outcomes.get(index)
        if outcome is None:
            results[index] = _stopped(index, update, patches[index], stopped)
            continue
        result = results[index] = _result(index, update, patches[index], outcome, live=False)
        if result.status == "updated":
            staged.append((update, result))
    if not staged:
        return stopped
    entries = [
        PendingItem(
            collection_id, update.id, (update.cms_locale_id,) if update.cms_locale_id else ()
        )
        for update, _ in staged
    ]
    report = PublishReport()
    publish_entries(client, entries, report)
    published = set(report.published)
    errors = {failure["id"]: failure["error"] for failure in report.failed}
    for update, result in staged:
        if update.id in published:
            result.live = True
            continue
        reason = errors.get(update.id) or "Webflow is rate limiting or unavailable"
        result.status = "failed"
        result.error = ErrorInfo(
            code="publish_failed",
            message=f"The staged change was saved but not published: {reason}",
        )
    logger.info(
        "live update fell back to a staged patch and a publish", extra={"items": len(staged)}
    )
    return stopped


def coerce_patches(
    client: WebflowClient, request: UpdateItemsRequest, schema: Collection, mapper: FieldMapper
) -> list[dict[str, Any]]:
    """Coerce each patch's fieldData against the schema (partial), else one 400 naming all."""
    resolve = ReferenceLookup(client)
    coerced: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for index, patch in enumerate(request.items):
        try:
            coerced.append(
                mapper.prepare_item(
                    patch.field_data, schema, partial=True, resolve_references=resolve
                )
            )
        except FieldValidationError as exc:
            errors += [
                FieldError(f"items[{index}].fieldData.{e.field}", e.message) for e in exc.errors
            ]
    if errors:
        raise FieldValidationError(errors)
    return coerced


def apply_updates(
    client: WebflowClient, request: UpdateItemsRequest, settings: UpdateItemsSettings
) -> UpdateOutcome:
    """Validate the request against the collection schema, then apply it (one call per request)."""
    collection_id = request.collection_id or settings.webflow_collection_id
    if not collection_id:
        detail = {"field": "collectionId", "message": "is required (no default collection is set)"}
        raise InvalidInput(
            "collection_required",
            "collectionId is required (no WEBFLOW_COLLECTION_ID is set)",
            [detail],
        )
    schema = collection_schema(client, collection_id, named_by_caller=bool(request.collection_id))
    coerced = coerce_patches(client, request, schema, settings.mapper())
    outcome = update_items(client, collection_id, request, coerced)
    logger.info(
        "items updated",
        extra={
            "collectionId": collection_id,
            "live": request.live,
            "counts": {status: outcome.count(status) for status in STATUSES},
        },
    )
    return outcome
