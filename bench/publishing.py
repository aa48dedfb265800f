"""Publishing: publish-live finds and publishes a set of pending items."""

from __future__ import annotations

import time
from typing import Any

from bench._common import function_client, running_stack, slug, stats_delta
from bench.report import Section
from tests.conftest import Sandbox


def seed_pending(
    sandbox: Sandbox, collection_id: str, count: int, prefix: str = "Pending"
) -> list[str]:
    """Create `count` staged, never-published, non-draft items straight in the sandbox."""
    ids: list[str] = []
    run = time.time_ns() % 1_000_000_007
    with sandbox.api() as api:
        for offset in range(0, count, 100):
            batch = [
                {
                    "isDraft": False,
                    "isArchived": False,
                    "fieldData": {
                        "name": f"{prefix} {run} {i}",
                        "slug": slug(f"{prefix} {run} {i}"),
                    },
                }
                for i in range(offset, min(offset + 100, count))
            ]
            response = api.post(f"/collections/{collection_id}/items", json={"items": batch})
            response.raise_for_status()
            ids += [item["id"] for item in response.json()["items"]]
    return ids


def measure(*, items: int = 1000, rate_limit: int = 600) -> dict[str, Any]:
    with running_stack(rate_limit=rate_limit, functions=["publish-live"]) as stack:
        collection_id = stack.sandbox.collections["posts"]
        seed_pending(stack.sandbox, collection_id, items)
        before = stack.sandbox.stats()
        with function_client() as client:
            started = time.perf_counter()
            response = client.post(stack.url("publish-live"), json={"pending": True})
            elapsed = time.perf_counter() - started
        body = response.json()
        delta = stats_delta(before, stack.sandbox.stats())
    by_route = delta["byRoute"]
    return {
        "pending": items,
        "httpStatus": response.status_code,
        "published": len(body.get("published") or []) if isinstance(body, dict) else None,
        "failed": len(body.get("failed") or []) if isinstance(body, dict) else None,
        "remaining": body.get("remaining") if isinstance(body, dict) else None,
        "seconds": elapsed,
        "webflowRequests": delta["total"],
        "listRequests": sum(
            n
            for route, n in by_route.items()
            if route.startswith("GET ") and route.endswith("/items")
        ),
        "publishRequests": sum(
            n for route, n in by_route.items() if route.endswith("/items/publish")
        ),
        "byRoute": by_route,
        "rateLimited": delta["byStatus"].get("429", 0),
    }


def run(*, items: int = 1000, rate_limit: int = 600) -> Section:
    figures = measure(items=items, rate_limit=rate_limit)
    section = Section(
        key="publishing",
        title=f"Publishing {items:,} pending items",
        columns=[
            "published",
            "failed",
            "remaining",
            "seconds",
            "Webflow requests",
            "list",
            "publish",
            "429s",
        ],
        data=figures,
    )
    section.rows.append(
        [
            figures["published"],
            figures["failed"],
            figures["remaining"],
            figures["seconds"],
            figures["webflowRequests"],
            figures["listRequests"],
            figures["publishRequests"],
            figures["rateLimited"],
        ]
    )
    section.notes.append(
        f'publish-live with {{"pending": true}}, sandbox limited to {rate_limit} requests/minute. '
        "Target: at most 10 list and 10 publish requests."
    )
    return section
