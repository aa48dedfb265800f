"""Latency overhead: one single-item create through create-items against the same call made
straight to the sandbox."""

from __future__ import annotations

import time
from typing import Any

from bench._common import function_client, running_stack, slug
from bench.report import Section, percentile


def measure(*, samples: int = 200, warmup: int = 20) -> dict[str, Any]:
    """Alternate the two calls so that both see the same machine; return the timings in ms."""
    with running_stack(functions=["create-items"]) as stack:
        collection_id = stack.sandbox.collections["posts"]
        run = time.time_ns() % 1_000_000_007
        direct_ms: list[float] = []
        through_ms: list[float] = []
        with stack.sandbox.api() as api, function_client() as client:
            for index in range(warmup + samples):
                name = f"Latency {run} {index}"
                started = time.perf_counter()
                response = api.post(
                    f"/collections/{collection_id}/items",
                    json={
                        "isArchived": False,
                        "isDraft": False,
                        "fieldData": {"name": f"{name} direct", "slug": slug(f"{name} direct")},
                    },
                )
                direct = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                started = time.perf_counter()
                response = client.post(
                    stack.url("create-items"), json={"items": [{"fieldData": {"name": name}}]}
                )
                through = (time.perf_counter() - started) * 1000
                if response.status_code >= 300:
                    raise RuntimeError(
                        f"create-items answered {response.status_code}: {response.text[:300]}"
                    )
                if index >= warmup:
                    direct_ms.append(direct)
                    through_ms.append(through)
        requests = stack.sandbox.stats().get("byRoute", {})
    return {
        "samples": samples,
        "directMs": direct_ms,
        "createItemsMs": through_ms,
        "byRoute": requests,
    }


def run(*, samples: int = 200, warmup: int = 20) -> Section:
    figures = measure(samples=samples, warmup=warmup)
    direct, through = figures["directMs"], figures["createItemsMs"]
    summary = {
        "directP50": percentile(direct, 0.5),
        "directP95": percentile(direct, 0.95),
        "createItemsP50": percentile(through, 0.5),
        "createItemsP95": percentile(through, 0.95),
    }
    summary["overheadP50"] = summary["createItemsP50"] - summary["directP50"]
    summary["overheadP95"] = summary["createItemsP95"] - summary["directP95"]
    section = Section(
        key="latency",
        title="Latency of a single-item create (ms)",
        columns=["path", "p50", "p95", "samples"],
        data={**summary, "samples": samples, "sandboxRequestsByRoute": figures["byRoute"]},
    )
    section.rows.append(
        ["straight to the sandbox", summary["directP50"], summary["directP95"], samples]
    )
    section.rows.append(
        ["through create-items", summary["createItemsP50"], summary["createItemsP95"], samples]
    )
    section.rows.append(["overhead", summary["overheadP50"], summary["overheadP95"], ""])
    section.notes.append(
        "Target: p50 overhead ≤ 5 ms. Both calls over keep-alive HTTP on 127.0.0.1, alternated."
    )
    return section
