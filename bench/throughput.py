"""Throughput under Webflow's rate limit: create-items' bulk path against one item per request.

Webflow (and the sandbox) count requests over a sliding minute, so a token that has been idle can
spend a whole minute's allowance at once. A short job on an idle token therefore measures a burst,
not a rate. The rate is measured in the steady state instead: the token is first kept busy at exactly
R requests a minute for a minute, as a token in continuous use is, and then each client gets only the
slots that free up, which is what a long job gets.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from bench._common import (
    Stack,
    collection_total,
    count_status,
    function_client,
    new_items,
    running_stack,
    slug,
    stats_delta,
)
from bench.report import Section


def keep_token_busy(stack: Stack, *, rate_limit: int, seconds: float) -> int:
    """Spend the token's allowance evenly through create-items itself (one single-item create, one
    Webflow request, every 60/R seconds) for `seconds`; return the calls made.

    Going through the function matters: its limiter then knows when each slot frees, as it does in
    a long job of its own.
    """
    interval = 60.0 / rate_limit
    sent = 0
    run = uuid.uuid4().hex[:8]
    with function_client() as client:
        started = time.perf_counter()
        while (due := started + sent * interval) < started + seconds:
            time.sleep(max(0.0, due - time.perf_counter()))
            client.post(
                stack.url("create-items"),
                json={"items": [{"fieldData": {"name": f"Busy {run} {sent}"}}]},
            ).raise_for_status()
            sent += 1
    return sent


def create_items_run(stack: Stack, *, items: int, calls: int = 1) -> dict[str, Any]:
    """Create `items` items through create-items' JSON API in `calls` calls; measure the run."""
    collection_id = stack.sandbox.collections["posts"]
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
    return {
        "items": items,
        "calls": len(statuses),
        "httpStatuses": statuses,
        "reportedCreated": created,
        "seconds": elapsed,
        "itemsPerMinute": created / elapsed * 60,
        "webflowRequests": delta["total"],
        "requestsByRoute": delta["byRoute"],
        "rateLimited": delta["byStatus"].get("429", 0),
        "collectionId": collection_id,
    }


def naive_run(stack: Stack, *, seconds: float) -> dict[str, Any]:
    """One POST per item for `seconds`, honouring Retry-After, as an n8n Webflow node or a loop over
    the official SDK's create_item does; extrapolated to items per minute."""
    collection_id = stack.sandbox.collections["posts"]
    before = stack.sandbox.stats()
    created = rate_limited = 0
    run = uuid.uuid4().hex[:8]
    with stack.sandbox.api() as api:
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            name = f"Baseline {run} {created}"
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
                time.sleep(max(0.0, min(_retry_after(response), deadline - time.perf_counter())))
                continue
            response.raise_for_status()
            created += 1
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


def measure(
    *, rate_limit: int, items: int, baseline_seconds: float, busy_seconds: float = 60.0
) -> dict[str, Any]:
    """The idle-token burst, then the steady state: create-items and the baseline back to back."""
    with running_stack(rate_limit=rate_limit, functions=["create-items"]) as stack:
        before = collection_total(stack.sandbox, stack.sandbox.collections["posts"])
        burst = create_items_run(stack, items=items)
        burst["itemsInSandbox"] = (
            collection_total(stack.sandbox, stack.sandbox.collections["posts"]) - before
        )
    with running_stack(rate_limit=rate_limit, functions=["create-items"]) as stack:
        busy = keep_token_busy(stack, rate_limit=rate_limit, seconds=busy_seconds)
        before = collection_total(stack.sandbox, stack.sandbox.collections["posts"])
        steady = create_items_run(stack, items=items)
        steady["itemsInSandbox"] = (
            collection_total(stack.sandbox, stack.sandbox.collections["posts"]) - before
        )
        naive = naive_run(stack, seconds=baseline_seconds)
    return {
        "rateLimit": rate_limit,
        "busyRequests": busy,
        "burst": burst,
        "steady": steady,
        "baseline": naive,
    }


def run(
    *,
    rate_limit: int = 600,
    items: int = 5000,
    baseline_seconds: float = 60.0,
    busy_seconds: float = 60.0,
) -> Section:
    """Both clients, side by side, in one section."""
    figures = measure(
        rate_limit=rate_limit,
        items=items,
        baseline_seconds=baseline_seconds,
        busy_seconds=busy_seconds,
    )
    ceiling = rate_limit * 100
    burst, steady, naive = figures["burst"], figures["steady"], figures["baseline"]
    ratio = steady["itemsPerMinute"] / naive["itemsPerMinute"] if naive["itemsPerMinute"] else None
    figures["ratioToBaseline"] = ratio
    figures["ratioToCeiling"] = steady["itemsPerMinute"] / ceiling
    section = Section(
        key="throughput",
        title=f"Throughput under a rate limit of R = {rate_limit} requests/minute",
        columns=[
            "client",
            "items",
            "seconds",
            "items/minute",
            "Webflow requests",
            "429s met",
            f"of R×100 ({ceiling:,}/min)",
        ],
        data=figures,
    )
    for label, run_figures in (
        ("create-items, steady state (one call)", steady),
        ("one item per request, steady state", naive),
        ("create-items, idle token (burst)", burst),
    ):
        items_done = run_figures.get("itemsInSandbox", run_figures["items"])
        section.rows.append(
            [
                label,
                items_done,
                run_figures["seconds"],
                run_figures["itemsPerMinute"],
                run_figures["webflowRequests"],
                run_figures["rateLimited"],
                f"{run_figures['itemsPerMinute'] / ceiling:.1%}",
            ]
        )
    if ratio:
        section.notes.append(
            f"Steady state: create-items reaches {figures['ratioToCeiling']:.0%} of R×100 "
            f"(target ≥ 90%) and {ratio:.0f}× the one-item-per-request client (target ≥ 50×)."
        )
    section.notes.append(
        f"Steady state = create-items first kept the token busy at R requests/minute for "
        f"{busy_seconds:.0f} s ({figures['busyRequests']} single-item creates), so only freed slots were "
        "available, as in a long job. "
        f"The baseline ran {naive['seconds']:.0f} s and is extrapolated to a minute."
    )
    section.notes.append(
        "A run of n requests paced at R/minute spans n − 1 intervals, so a short steady-state run "
        "can read slightly above 100%."
    )
    section.notes.append(
        "Idle token: the sliding minute lets a fresh token spend its whole allowance at once, so a job "
        "smaller than R requests finishes in one burst; that row is a burst, not a rate."
    )
    return section
