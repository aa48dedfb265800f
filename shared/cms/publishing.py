"""Publish staged CMS changes: chosen items, every item with pending changes, or the whole site."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shared.core.config import FunctionSettings, api_keys_of, http_url, split_list
from shared.core.log import get_logger
from shared.core.oidc import GOOGLE_CERTS_URL
from shared.core.problems import InvalidInput
from shared.webflow import deadline
from shared.webflow.errors import RateLimitError, WebflowAPIError, WebflowError
from shared.webflow.failures import is_transient
from shared.webflow.models import Item, ItemPublish, WebflowId

if TYPE_CHECKING:
    from shared.webflow import WebflowClient

__all__ = [
    "MAX_ITEM_IDS",
    "PUBLISH_CHUNK_SIZE",
    "PendingItem",
    "PublishReport",
    "PublishRequest",
    "PublishSettings",
    "Publisher",
    "SitePublishGate",
    "has_unpublished_changes",
    "iter_pending_items",
    "publish",
    "publish_entries",
    "publish_pending",
    "publish_site",
]

PUBLISH_CHUNK_SIZE = 100
MAX_ITEM_IDS = 10_000
SITE_PUBLISH_INTERVAL_SECONDS = 60.0
PUBLISH_MAX_RETRIES = 2

logger = get_logger(__name__)

# Failures after which a run stops and leaves the rest for the next run instead of insisting
# (update-items stops its sending on them too).


class PublishSettings(FunctionSettings):
    """Settings of publish-live (on top of the Webflow ones)."""

    publish_collection_ids: str = ""
    publish_api_keys: SecretStr | None = None
    create_items_api_keys: SecretStr | None = None
    publish_allowed_invokers: str = ""
    publish_oidc_audience: str = ""
    publish_oidc_certs_url: str = GOOGLE_CERTS_URL
    publish_custom_domains: str = ""
    publish_to_webflow_subdomain: bool = True
    publish_max_retry_seconds: float = Field(default=5.0, ge=0)
    publish_max_run_seconds: float = Field(default=240.0, gt=0)

    @field_validator("publish_collection_ids")
    @classmethod
    def _collections_known(cls, value: str, info: ValidationInfo) -> str:
        if not split_list(value) and not info.data.get("webflow_collection_id"):
            raise ValueError("is required when WEBFLOW_COLLECTION_ID is not set")
        return value

    @field_validator("publish_oidc_audience")
    @classmethod
    def _audience_with_invokers(cls, value: str, info: ValidationInfo) -> str:
        # Without it the accepted audience would come from the request's Host header.
        if split_list(info.data.get("publish_allowed_invokers")) and not split_list(value):
            raise ValueError(
                "is required with PUBLISH_ALLOWED_INVOKERS: the URL Cloud Scheduler's tokens name "
                "as their audience (the function's URL)"
            )
        return value

    @field_validator("publish_oidc_certs_url")
    @classmethod
    def _certs_url_is_http(cls, value: str) -> str:
        return http_url(value) or value

    def client_options(self) -> dict[str, Any]:
        """WebflowClient options of publish-live: a rate-limited run stops, the next one goes on.

        Retries are few and bounded by PUBLISH_MAX_RETRY_SECONDS, so a 429 whose Retry-After is
        longer stops the run; pacing waits for a slot for as long as the run may last
        (PUBLISH_MAX_RUN_SECONDS, enforced as a deadline by ``publish``).
        """
        return {
            "max_retries": PUBLISH_MAX_RETRIES,
            "max_retry_seconds": self.publish_max_retry_seconds,
            "max_pacing_wait": self.publish_max_run_seconds,
        }

    @property
    def collection_ids(self) -> list[str]:
        """Collections to scan: PUBLISH_COLLECTION_IDS, else WEBFLOW_COLLECTION_ID."""
        configured = list(dict.fromkeys(split_list(self.publish_collection_ids)))
        if configured:
            return configured
        return [self.webflow_collection_id] if self.webflow_collection_id else []

    @property
    def api_keys(self) -> list[str]:
        """Accepted API keys: PUBLISH_API_KEYS (CREATE_ITEMS_API_KEYS stands in only in a local run)."""
        return api_keys_of(self.publish_api_keys, self.create_items_api_keys)

    @property
    def allowed_invokers(self) -> frozenset[str]:
        """Service-account emails whose OIDC tokens are accepted (lower case)."""
        return frozenset(email.lower() for email in split_list(self.publish_allowed_invokers))

    @property
    def oidc_audiences(self) -> list[str]:
        """Audiences an OIDC token may name (PUBLISH_OIDC_AUDIENCE, required with invokers)."""
        return split_list(self.publish_oidc_audience)

    @property
    def custom_domains(self) -> list[str]:
        """Custom domain ids a site publish targets."""
        return split_list(self.publish_custom_domains)


class PublishRequest(BaseModel):
    """Body of a publish-live call; an empty body means {"pending": true}."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, defer_build=True
    )

    collection_id: WebflowId | None = None
    item_ids: list[WebflowId] | None = Field(default=None, min_length=1, max_length=MAX_ITEM_IDS)
    cms_locale_ids: list[WebflowId] | None = Field(default=None, min_length=1)
    pending: bool = False
    site: bool = False
    dry_run: bool = False

    @field_validator("item_ids", "cms_locale_ids")
    @classmethod
    def _no_blank_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not part.strip() for part in value):
            raise ValueError("ids must not be blank")
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> PublishRequest:
        if sum((self.item_ids is not None, self.pending, self.site)) > 1:
            raise ValueError("give only one of itemIds, pending and site")
        if self.cms_locale_ids is not None and self.item_ids is None:
            raise ValueError("cmsLocaleIds goes with itemIds")
        return self

    @property
    def mode(self) -> Literal["items", "pending", "site"]:
        """Which kind of publish the body asks for."""
        if self.item_ids is not None:
            return "items"
        return "site" if self.site else "pending"


@dataclass(frozen=True)
class PendingItem:
    """An item to publish in a collection; no cmsLocaleIds means the primary locale only."""

    collection_id: str
    id: str
    cms_locale_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The item as it appears in a dry-run answer."""
        body: dict[str, Any] = {"collectionId": self.collection_id, "id": self.id}
        if self.cms_locale_ids:
            body["cmsLocaleIds"] = list(self.cms_locale_ids)
        return body


@dataclass
class PublishReport:
    """What a run published, what failed, and how much is left for the next run."""

    dry_run: bool = False
    published: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    remaining: int = 0
    pending: list[PendingItem] | None = None
    site: dict[str, Any] | None = None
    stopped: dict[str, Any] | None = None

    def stop(self, error: Exception, *, phase: Literal["scan", "publish"]) -> None:
        """Record that the run stopped on a transient failure while scanning or publishing."""
        retry_after = getattr(error, "retry_after", None)
        reason = "rate_limited" if isinstance(error, RateLimitError) else "upstream_unavailable"
        self.stopped = {"reason": reason, "phase": phase, "retryAfter": retry_after}
        logger.warning(
            "publish run stopped", extra={"reason": reason, "phase": phase, "error": str(error)}
        )

    def to_json(self) -> dict[str, Any]:
        """The answer body of publish-live; an item published locale by locale is listed once."""
        failed = {(failure["id"], failure["error"]): failure for failure in self.failed}
        body: dict[str, Any] = {
            "published": list(dict.fromkeys(self.published)),
            "failed": list(failed.values()),
            "remaining": self.remaining,
            "dryRun": self.dry_run,
        }
        if self.pending is not None:
            body["pending"] = [item.to_json() for item in self.pending]
        if self.site is not None:
            body["site"] = self.site
        if self.stopped is not None:
            body["stopped"] = self.stopped
        return body


def _timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp such as 2025-07-01T10:00:00.000Z."""
    return datetime.fromisoformat(value)


def has_unpublished_changes(item: Item) -> bool:
    """True for an item whose staged state would change the live site if published.

    Archived items and drafts are left alone (since July 2025 a draft flag on a published item marks
    changes that must not go live yet); otherwise an item is pending when it was never published or
    was updated after its last publish.
    """
    if item.is_archived or item.is_draft:
        return False
    if not item.last_published:
        return True
    if not item.last_updated:
        return False
    return _timestamp(item.last_updated) > _timestamp(item.last_published)


def site_cms_locale_ids(client: WebflowClient, site_id: str | None) -> list[str]:
    """The site's cmsLocaleIds, primary first; empty when the site is not localized or unknown."""
    if not site_id:
        return []
    locales = client.get_site(site_id).locales.all()
    ids = [locale.cms_locale_id for locale in locales if locale.cms_locale_id]
    return ids if len(ids) > 1 else []


def _variant_pages(
    client: WebflowClient, collection_id: str, cms_locale_ids: Sequence[str]
) -> Iterator[list[Item]]:
    """Pages of every locale variant of every item, all locales in one listing.

    Webflow's cmsLocaleId takes a comma-separated list, so n items in k locales cost about
    n*k/100 pages, not k listings.
    """
    locale_filter = ",".join(cms_locale_ids) if len(cms_locale_ids) > 1 else None
    offset = 0
    while True:
        page = client.list_items(collection_id, offset=offset, cms_locale_id=locale_filter)
        if page.items:
            yield page.items
        offset += len(page.items)
        if not page.items or offset >= page.pagination.total:
            return


def iter_pending_items(
    client: WebflowClient, collection_id: str, cms_locale_ids: Sequence[str] = ()
) -> Iterator[list[PendingItem]]:
    """Page by page, a collection's items with unpublished changes.

    Each item comes with the locales whose variant is pending (none when the site is not
    localized). The listing gives an item's variants one after another, so the last item of a page
    is held back until the next page shows whether more of its variants follow.
    """

    def entries(variants: dict[str, list[str]]) -> list[PendingItem]:
        return [
            PendingItem(collection_id, item_id, tuple(locales))
            for item_id, locales in variants.items()
        ]

    carried: dict[str, list[str]] = {}
    for page in _variant_pages(client, collection_id, cms_locale_ids):
        variants, carried = carried, {}
        for item in page:
            if not has_unpublished_changes(item):
                continue
            locales = variants.setdefault(item.id, [])
            if cms_locale_ids and item.cms_locale_id and item.cms_locale_id not in locales:
                locales.append(item.cms_locale_id)
        last_id = page[-1].id
        if last_id in variants:
            carried[last_id] = variants.pop(last_id)
        yield entries(variants)
    if carried:
        yield entries(carried)


def _error_for(item_id: str, errors: Iterable[Any]) -> str:
    """The message of the publish answer's errors that names this item, else a generic one."""
    for error in errors:
        text = error if isinstance(error, str) else json.dumps(error)
        if item_id in text:
            return text
    return "not published"


class Publisher:
    """Publishes items in requests of 100 of one collection, as batches fill up.

    Items carry their own locales, so items pending in different locales share a request (only
    items with locales and items without go apart, as Webflow takes them in different bodies).

    Full batches go out while the scan goes on, so a run that has to stop early has still made
    progress; a rate limit or an outage stops the publishing and leaves the rest counted as
    remaining. In a dry run nothing is sent.
    """

    def __init__(self, client: WebflowClient, report: PublishReport) -> None:
        self._client = client
        self._report = report
        self._groups: dict[tuple[str, bool], list[PendingItem]] = {}
        self._held: list[PendingItem] = []

    @property
    def stopped(self) -> bool:
        """True once a transient failure stopped the run."""
        return self._report.stopped is not None

    def add(self, entries: Iterable[PendingItem]) -> None:
        """Queue entries; each batch that reaches 100 is published at once."""
        for entry in entries:
            key = (entry.collection_id, bool(entry.cms_locale_ids))
            group = self._groups.setdefault(key, [])
            group.append(entry)
            if len(group) == PUBLISH_CHUNK_SIZE:
                self._groups[key] = []
                self._send(group)

    def finish(self) -> None:
        """Publish what is still queued (or, in a dry run, report it) and count what is left.

        After a stop nothing more is sent: what was found and not published is the remainder
        (a run stopped early may not have seen every pending item).
        """
        for group in self._groups.values():
            if group:
                self._send(group)
        self._groups.clear()
        self._report.remaining = len(self._held)
        if self._report.dry_run:
            self._report.pending = list(self._held)

    def stop(self, error: WebflowError, *, phase: Literal["scan", "publish"]) -> None:
        """Stop on a transient failure: nothing more is sent in this run."""
        self._report.stop(error, phase=phase)

    def _refused(self, exc: WebflowError, ids: list[str]) -> None:
        """Webflow refused the batch's items (400/404/409: reported per item); anything else
        (the token refused) leaves as it came."""
        if not isinstance(exc, WebflowAPIError) or exc.status_code not in (400, 404, 409):
            raise exc
        self._report.failed.extend({"id": item_id, "error": exc.message} for item_id in ids)

    def _send(self, batch: list[PendingItem]) -> None:
        if self._report.dry_run or self.stopped:
            self._held.extend(batch)
            return
        collection_id = batch[0].collection_id
        ids = [entry.id for entry in batch]
        targets = [
            ItemPublish(id=entry.id, cms_locale_ids=list(entry.cms_locale_ids) or None)
            for entry in batch
        ]
        try:
            result = self._client.publish_items(collection_id, targets)
        except WebflowError as exc:
            if not is_transient(exc):
                self._refused(exc, ids)
                return
            self._held.extend(batch)
            self.stop(exc, phase="publish")
            return
        published = set(result.published_item_ids)
        for item_id in ids:
            if item_id in published:
                self._report.published.append(item_id)
            else:
                self._report.failed.append(
                    {"id": item_id, "error": _error_for(item_id, result.errors)}
                )


def publish_entries(
    client: WebflowClient, entries: Sequence[PendingItem], report: PublishReport
) -> None:
    """Publish the entries (100 per request of one collection) into the report."""
    publisher = Publisher(client, report)
    publisher.add(entries)
    publisher.finish()


class SitePublishGate:
    """Remembers this instance's last site publish: a second one within a minute is not sent."""

    def __init__(
        self,
        interval: float = SITE_PUBLISH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._before_claim: dict[str, float | None] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, site_id: str) -> float:
        """Seconds until this instance may publish the site again (0 when it may now)."""
        with self._lock:
            return self._wait(site_id)

    def _wait(self, site_id: str) -> float:
        last = self._last.get(site_id)
        if last is None:
            return 0.0
        return max(0.0, self._interval - (self._clock() - last))

    def claim(self, site_id: str) -> float:
        """Take the turn to publish the site now (0), else the seconds until the next turn.

        Checking and taking are one step, so that concurrent requests of an instance send one
        publish. The turn counts as a publish until ``release`` gives it back (the publish failed)
        or ``record`` confirms it.
        """
        with self._lock:
            wait = self._wait(site_id)
            if wait == 0:
                self._before_claim[site_id] = self._last.get(site_id)
                self._last[site_id] = self._clock()
            return wait

    def release(self, site_id: str) -> None:
        """Give back a claimed turn whose publish did not happen."""
        with self._lock:
            if site_id not in self._before_claim:
                return
            previous = self._before_claim.pop(site_id)
            if previous is None:
                self._last.pop(site_id, None)
            else:
                self._last[site_id] = previous

    def record(self, site_id: str) -> None:
        """Note a successful publish of the site now."""
        with self._lock:
            self._before_claim.pop(site_id, None)
            self._last[site_id] = self._clock()


def publish_site(
    client: WebflowClient, settings: PublishSettings, report: PublishReport, gate: SitePublishGate
) -> None:
    """Publish the whole site at most once a minute; a 429 is reported, never retried here."""
    site_id = settings.webflow_site_id
    if not site_id:
        raise InvalidInput(
            "site_not_configured", "Publishing the site needs WEBFLOW_SITE_ID to be set"
        )
    report.site = {"id": site_id, "published": False}
    if report.dry_run:
        report.remaining = 1
        return
    wait = gate.claim(site_id)
    if wait > 0:
        report.remaining = 1
        report.stopped = {
            "reason": "rate_limited",
            "phase": "publish",
            "retryAfter": round(wait, 1),
        }
        return
    try:
        client.publish_site(
            site_id,
            custom_domains=settings.custom_domains or None,
            publish_to_webflow_subdomain=settings.publish_to_webflow_subdomain,
        )
    except WebflowError as exc:
        gate.release(site_id)
        if not is_transient(exc):
            raise
        report.stop(exc, phase="publish")
        report.remaining = 1
        return
    except BaseException:
        gate.release(site_id)
        raise
    gate.record(site_id)
    report.site["published"] = True


def publish(
    client: WebflowClient,
    request: PublishRequest,
    settings: PublishSettings,
    site_gate: SitePublishGate,
) -> PublishReport:
    """Carry out one publish-live request and report per item (the gate spaces site publishes)."""
    report = PublishReport(dry_run=request.dry_run)
    with deadline(settings.publish_max_run_seconds):
        if request.mode == "site":
            publish_site(client, settings, report, site_gate)
        elif request.mode == "items":
            publish_entries(client, _requested_entries(request, settings), report)
        else:
            collection_ids = (
                [request.collection_id] if request.collection_id else settings.collection_ids
            )
            publish_pending(client, collection_ids, settings.webflow_site_id, report)
    logger.info(
        "publish run done",
        extra={
            "mode": request.mode,
            "dryRun": request.dry_run,
            "published": len(report.published),
            "failed": len(report.failed),
            "remaining": report.remaining,
        },
    )
    return report


def publish_pending(
    client: WebflowClient, collection_ids: Sequence[str], site_id: str | None, report: PublishReport
) -> None:
    """Scan the collections (every locale of the site) and publish what has unpublished changes."""
    publisher = Publisher(client, report)
    try:
        locale_ids = site_cms_locale_ids(client, site_id)
        pages = (
            page
            for collection_id in collection_ids
            for page in iter_pending_items(client, collection_id, locale_ids)
        )
        for page in pages:
            publisher.add(page)
            if publisher.stopped:
                break
    except WebflowError as exc:
        if not is_transient(exc):
            raise
        publisher.stop(exc, phase="scan")
    publisher.finish()


def _requested_entries(request: PublishRequest, settings: PublishSettings) -> list[PendingItem]:
    """The explicit itemIds of a request, deduplicated, in their collection."""
    collection_id = request.collection_id
    if collection_id is None:
        if len(settings.collection_ids) != 1:
            raise InvalidInput(
                "collection_required",
                "collectionId is required when several collections are configured",
                [{"field": "collectionId", "message": "is required with several collections"}],
            )
        collection_id = settings.collection_ids[0]
    locales = tuple(dict.fromkeys(request.cms_locale_ids or ()))
    return [
        PendingItem(collection_id, item_id, locales)
        for item_id in dict.fromkeys(request.item_ids or ())
    ]
