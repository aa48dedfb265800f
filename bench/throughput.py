"""Throughput under Webflow's rate limit: create-items' bulk path against one item per request."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from bench._common import (
    slug,
    collection_total,
    count_status,
    function_client,
    new_items,
    running_stack,
    stats_delta,
)
from bench.report import Section


def create_items_throughput(*, rate_limit: int, items: int, calls: int = 1) -> dict[str, Any]:
    """Create `items` items through create-items' JSON API in `calls` calls; measure the run."""
    with running_stack(rate_limit=rate_limit, functions=["create-items"]) as stack:
        collection_id = stack.sandbox.collections["posts"]
        total_before = collection_total(stack.sandbox, collection_id)
        bodies = new_items(items, "Throughput")
        per_call = -(-items // calls)
        before = stack.sandbox.stats()
        statuses: list[int] = []
        created = 0
        with function_client() as client:
            started = time.perf_counter()
            for offset in range(0, items, per_call):
                response = client.post(
                    stack.url("create-items"), json={"items": bodies[offset : offset + per_call]}
                )
                statuses.append(response.status_code)
                created += count_status(response.json(), "created", "existing")
            elapsed = time.perf_counter() - started
        delta = stats_delta(before, stack.sandbox.stats())
        held = collection_total(stack.sandbox, collection_id) - total_before
    return {
        "items": items,
        "calls": len(statuses),
        "httpStatuses": statuses,
        "reportedCreated": created,
        "itemsInSandbox": held,
        "seconds": elapsed,
        "itemsPerMinute": held / elapsed * 60,
        "webflowRequests": delta["total"],
        "requestsByRoute": delta["byRoute"],
        "rateLimited": delta["byStatus"].get("429", 0),
    }


def naive_baseline(*, rate_limit: int, seconds: float) -> dict[str, Any]:
    """One POST per item for `seconds`, honouring Retry-After, as an n8n Webflow node or a loop over
    the official SDK's create_item does; extrapolated to items per minute."""
    with running_stack(rate_limit=rate_limit) as stack:
        collection_id = stack.sandbox.collections["posts"]
        before = stack.sandbox.stats()
        created = rate_limited = 0
        run = uuid.uuid4().hex[:8]
        with stack.sandbox.api() as api:
            started = time.perf_counter()
            deadline = started + seconds
            index = 0
            while time.perf_counter() < deadline:
                name = f"Baseline {run} {index}"
                response = api.post(
                    f"/collections/{collection_id}/items",
                    json={
                        "isArchived": False,
                        "isDraft": False,
                        "fieldData": {"name": name, "slug": slug(name)},
                    },
                )
                if response.status_code == 429:
                    rate_limited += 1
                    wait = _retry_after(response)
                    time.sleep(max(0.0, min(wait, deadline - time.perf_counter())))
                    continue
                response.raise_for_status()
                created += 1
                index += 1
            elapsed = time.perf_counter() - started
        delta = stats_delta(before, stack.sandbox.stats())
    return {
        "seconds": elapsed,
        "items": created,
        "itemsPerMinute": created / elapsed * 60,
        "webflowRequests": delta["total"],
        "rateLimited": rate_limited,
    }


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


def run(*, rate_limit: int = 600, items: int = 5000, baseline_seconds: float = 60.0) -> Section:
    """Both runs, side by side, in one section."""
    ceiling = rate_limit * 100
    bulk = create_items_throughput(rate_limit=rate_limit, items=items)
    naive = naive_baseline(rate_limit=rate_limit, seconds=baseline_seconds)
    ratio = bulk["itemsPerMinute"] / naive["itemsPerMinute"] if naive["itemsPerMinute"] else None
    section = Section(
        key="throughput",
        title=f"Throughput under a rate limit of {rate_limit} requests/minute",
        columns=[
            "client", "items", "seconds", "items/minute", "Webflow requests", "429s met",
            f"of R×100 ({ceiling:,}/min)",
        ],
        data={"rateLimit": rate_limit, "createItems": bulk, "baseline": naive, "ratio": ratio},
    )
    section.rows.append([
        "create-items (bulk, paced)", bulk["itemsInSandbox"], bulk["seconds"],
        bulk["itemsPerMinute"], bulk["webflowRequests"], bulk["rateLimited"],
        f"{bulk['itemsPerMinute'] / ceiling:.0%}",
    ])
    section.rows.append([
        "one item per request (naive)", naive["items"], naive["seconds"],
        naive["itemsPerMinute"], naive["webflowRequests"], naive["rateLimited"],
        f"{naive['itemsPerMinute'] / ceiling:.1%}",
    ])
    section.notes.append(
        f"create-items is {ratio:.0f}× the one-item-per-request client (target ≥50×); "
        f"target ≥90% of R×100." if ratio else "baseline created nothing"
    )
    section.notes.append(
        f"The baseline ran for {naive['seconds']:.0f} s and is extrapolated to a minute; "
        "a sliding-minute limit caps it at R items/minute whatever the client does."
    )
    return section
