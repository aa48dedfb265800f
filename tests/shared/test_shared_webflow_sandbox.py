"""Functional tests of the Webflow client against the real sandbox server."""

from __future__ import annotations

import hashlib
import io
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from shared.webflow import WebflowClient
from shared.webflow.errors import BadRequestError, NotFoundError, PermissionDeniedError
from shared.webflow.models import ItemUpdate, NewItem
from shared.webflow.pacing import SlidingWindowLimiter
from tests.conftest import Sandbox
from tests.items_support import RequestCounter


def short_sleep(seconds: float) -> None:
    """Retry waits shortened to keep tests fast (their timing is covered by unit tests)."""
    time.sleep(min(seconds, 0.05))


@pytest.fixture
def client(sandbox) -> Iterator[WebflowClient]:  # type: ignore[no-untyped-def]
    with WebflowClient(
        sandbox.token,
        base_url=sandbox.api_base_url,
        sleep=short_sleep,
        timeout=10.0,
        limiter=SlidingWindowLimiter(60),
    ) as webflow_client:
        yield webflow_client


def posts(count: int, prefix: str = "post") -> list[NewItem]:
    return [
        NewItem(
            field_data={"name": f"{prefix.title()} {n}", "slug": f"{prefix}-{n}"}, is_draft=False
        )
        for n in range(count)
    ]


def all_items(client: WebflowClient, collection_id: str) -> list:
    return list(client.iter_items(collection_id))


def test_1000_items_created_in_at_most_10_requests(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    before = len(all_items(client, collection_id))
    start = sandbox.stats()["byRoute"].get("POST /v2/collections/{collection_id}/items", 0)

    results = client.create_items(collection_id, posts(1000))

    stats = sandbox.stats()
    assert stats["byRoute"]["POST /v2/collections/{collection_id}/items"] - start <= 10
    assert [r.status for r in results] == ["created"] * 1000
    assert [r.item.slug for r in results] == [f"post-{n}" for n in range(1000)]  # type: ignore[union-attr]
    assert len(all_items(client, collection_id)) == before + 1000


def test_faults_never_duplicate_items(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    existing = {item.slug for item in all_items(client, collection_id)}
    sandbox.configure(faults={"errorRate": 0.2, "dropAfterWriteRate": 0.1, "seed": 7})

    results = client.create_items(collection_id, posts(500, "fault"))

    sandbox.configure(faults={"errorRate": 0, "dropAfterWriteRate": 0})
    stats = sandbox.stats()
    items = [item for item in all_items(client, collection_id) if item.slug not in existing]
    assert Counter(r.status for r in results) == {"created": 500}
    assert len(items) == 500
    assert len({item.slug for item in items}) == 500
    assert len({item.name for item in items}) == 500
    assert {r.item.id for r in results} == {item.id for item in items}  # type: ignore[union-attr]
    # The faults did happen: 500s were answered, and a write cut off after it was applied made the
    # re-send answer 400 duplicate slugs, which the client recognised as its own items.
    assert stats["byStatus"].get("500", 0) > 0
    assert stats["byStatus"].get("400", 0) > 0
    assert stats["byRoute"]["POST /v2/collections/{collection_id}/items"] > 5


def test_rate_limit_paced_without_429_including_other_users_of_the_token(sandbox) -> None:  # type: ignore[no-untyped-def]
    limit = 12
    sandbox.configure(rateLimitPerMinute=limit)
    site_id = sandbox.site_id
    # Another process used most of the token's minute already.
    with sandbox.api() as other:
        for _ in range(limit - 3):
            other.get(f"/sites/{site_id}").raise_for_status()
    started = time.monotonic()

    with WebflowClient(
        sandbox.token,
        base_url=sandbox.api_base_url,
        rate_limit_per_minute=60,
        max_retry_seconds=90,  # pacing waits count against the budget: allow a whole minute
        limiter=SlidingWindowLimiter(60),
    ) as client:
        for _ in range(limit):
            client.get_site(site_id)

    elapsed = time.monotonic() - started
    stats = sandbox.stats()
    # Remaining 0 without Retry-After: one probe learns from its 429 when a slot frees.
    probes = stats["byStatus"].get("429", 0)
    assert probes <= 1
    assert stats["total"] == limit - 3 + limit + probes
    assert elapsed >= 50  # it waited for the other process's requests to leave the window


def test_remaining_zero_from_other_users_probes_instead_of_giving_up(sandbox) -> None:  # type: ignore[no-untyped-def]
    limit = 20
    sandbox.configure(rateLimitPerMinute=limit)
    site_id = sandbox.site_id
    collection_id = sandbox.collections["posts"]
    # Other users of the token take all but one of its minute, spread over a few seconds.
    with sandbox.api() as other:
        for _ in range(limit - 1):
            other.get(f"/sites/{site_id}").raise_for_status()
            time.sleep(0.1)

    with WebflowClient(
        sandbox.token,
        base_url=sandbox.api_base_url,
        rate_limit_per_minute=limit,
        max_retry_seconds=30,  # less than a whole minute, more than a probe
        limiter=SlidingWindowLimiter(limit),
    ) as client:
        # The last slot: the answer says Remaining 0 and not when the next one frees.
        client.get_site(site_id)
        # The other users' requests leave the token's window (its minute restarts).
        sandbox.configure(rateLimitPerMinute=limit)
        started = time.monotonic()
        results = client.create_items(collection_id, posts(150, "probe"))
        elapsed = time.monotonic() - started

    assert [r.status for r in results] == ["created"] * 150
    assert elapsed < 10
    assert sandbox.stats()["byStatus"].get("429", 0) == 0


def test_duplicate_slug_reported_per_item(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    client.create_items(collection_id, posts(1, "dup"))
    counter = RequestCounter(sandbox)

    results = client.create_items(collection_id, posts(3, "dup"))

    assert [r.status for r in results] == ["failed", "created", "created"]
    # The refused batch, then the others again: no look-up for a slug that was not ours.
    assert counter.routes("POST", "/items") == 2
    assert counter.routes("GET", "/items") == 0
    assert results[0].error.code == "duplicate_slug"  # type: ignore[union-attr]
    assert results[0].error.details == [  # type: ignore[union-attr]
        {"param": "slug", "description": "Unique value is already in database: 'dup-0'"}
    ]


def test_invalid_item_failed_and_others_created(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    items = posts(6, "mixed")
    items[4] = NewItem(field_data={"name": "Bad", "slug": "mixed-4", "rating": "not a number"})

    results = client.create_items(collection_id, items)

    assert [r.status for r in results] == ["created"] * 4 + ["failed", "created"]
    error = results[4].error
    assert error is not None
    assert error.code == "validation_error"
    assert error.details
    assert error.details[0]["param"] == "rating"
    assert client.find_item_by_slug(collection_id, "mixed-4") is None


def test_bulk_create_across_locales(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    locales = [sandbox.locales["primary"]["cmsLocaleId"]] + [
        loc["cmsLocaleId"] for loc in sandbox.locales["secondary"]
    ]
    items = [
        NewItem(field_data={"name": f"Loc {n}", "slug": f"loc-{n}"}, cms_locale_ids=locales)
        for n in range(3)
    ]

    results = client.create_items(collection_id, items)

    assert [r.status for r in results] == ["created"] * 3
    item = results[1].item
    assert item is not None
    assert item.cms_locale_id == locales[0]
    for locale in locales:
        assert client.get_item(collection_id, item.id, cms_locale_id=locale).slug == "loc-1"


def test_read_update_publish_delete_round_trip(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    site = client.get_site(sandbox.site_id)
    collection = client.get_collection(collection_id)
    created = client.create_item(
        collection_id, NewItem(field_data={"name": "Round", "slug": "round"}, is_draft=True)
    )

    updated = client.update_items(
        collection_id,
        [
            ItemUpdate(id=created.id, field_data={"summary": "changed"}),
            ItemUpdate(id="0" * 24, field_data={}),
        ],
    )
    published = client.publish_items(collection_id, [created.id])
    live = client.get_item(collection_id, created.id, live=True)
    client.unpublish_items(collection_id, [created.id])
    client.delete_items(collection_id, [created.id])

    assert site.locales.primary is not None
    assert collection.field("name") is not None
    assert updated[0].status == "updated"
    assert updated[0].item is not None
    assert updated[0].item.field_data["summary"] == "changed"
    assert updated[1].status == "not_found"
    assert published.published_item_ids == [created.id]
    assert live.field_data["summary"] == "changed"
    with pytest.raises(NotFoundError):
        client.get_item(collection_id, created.id)


def test_read_only_token_cannot_write(sandbox) -> None:  # type: ignore[no-untyped-def]
    with (
        WebflowClient(sandbox.read_only_token, base_url=sandbox.api_base_url) as client,
        pytest.raises(PermissionDeniedError) as info,
    ):
        client.create_items(sandbox.collections["posts"], posts(1))

    assert info.value.code == "missing_scopes"


def test_asset_upload_streams_to_the_presigned_url(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    data = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    md5 = hashlib.md5(data).hexdigest()

    asset = client.upload_asset(
        sandbox.site_id, "pixel.gif", io.BytesIO(data), len(data), md5, "image/gif"
    )

    assert asset.size == len(data)
    assert asset.content_type == "image/gif"
    assert httpx.get(asset.hosted_url).content == data  # type: ignore[arg-type]


def test_asset_upload_with_wrong_bytes_raises_s3_error(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    data = b"%PDF-1.4 real bytes"
    upload = client.create_asset(
        sandbox.site_id, "doc.pdf", hashlib.md5(b"other bytes").hexdigest()
    )

    with pytest.raises(BadRequestError) as info:
        client.upload_to_presigned(upload, io.BytesIO(data), len(data), "application/pdf")

    assert info.value.code
    assert info.value.code != "bad_request"
    assert info.value.message


def test_spurious_429s_are_waited_out_with_retry_after(sandbox, client: WebflowClient) -> None:  # type: ignore[no-untyped-def]
    collection_id = sandbox.collections["posts"]
    sandbox.configure(
        faults={"rateLimitRate": 0.25, "errorRate": 0.1, "dropAfterWriteRate": 0.1, "seed": 11}
    )

    results = client.create_items(collection_id, posts(300, "spurious"))
    site = client.get_site(sandbox.site_id)

    sandbox.configure(faults={})
    stats = sandbox.stats()
    slugs = [
        item.slug for item in all_items(client, collection_id) if item.slug.startswith("spurious-")
    ]
    assert stats["byStatus"].get("429", 0) > 0
    assert Counter(r.status for r in results) == {"created": 300}
    assert sorted(slugs) == sorted(f"spurious-{n}" for n in range(300))
    assert site.id == sandbox.site_id


def test_bulk_create_under_faults_makes_each_item_once_per_locale(
    sandbox: Sandbox, client: WebflowClient
) -> None:
    collection_id = sandbox.collections["posts"]
    locales = [sandbox.locales["primary"]["cmsLocaleId"]] + [
        loc["cmsLocaleId"] for loc in sandbox.locales["secondary"]
    ]
    sandbox.configure(faults={"errorRate": 0.3, "dropAfterWriteRate": 0.25, "seed": 1})
    items = [
        NewItem(field_data={"name": f"Bulk {n}", "slug": f"bulk-{n}"}, cms_locale_ids=locales)
        for n in range(150)
    ]

    results = client.create_items(collection_id, items)

    sandbox.configure(faults={})
    assert sandbox.stats()["byStatus"].get("400", 0) > 0  # a cut-off write was recognised
    assert Counter(r.status for r in results) == {"created": 150}
    for locale in locales:
        slugs = [
            item.slug
            for item in client.iter_items(collection_id, cms_locale_id=locale)
            if item.slug and item.slug.startswith("bulk-")
        ]
        assert sorted(slugs) == sorted(f"bulk-{n}" for n in range(150))
