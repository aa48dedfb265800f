"""Pieces every benchmark section shares: a sandbox with functions around it, item bodies, counting."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._procs import (
    API_KEY,
    RunningFunction,
    SandboxServer,
    function_env,
    run_sandbox,
    start_function,
)


@dataclass
class Stack:
    """A sandbox and the function processes wired to it."""

    sandbox: SandboxServer
    functions: dict[str, RunningFunction] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))

    def url(self, name: str) -> str:
        return self.functions[name].url


@contextmanager
def running_stack(
    *,
    rate_limit: int = 0,
    functions: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
) -> Iterator[Stack]:
    """A fresh sandbox limited to `rate_limit` requests a minute and the named functions, all
    stopped by pid on exit. The functions pace themselves at the same limit."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bench-"))
    with ExitStack() as stack:
        sandbox = run_sandbox(rate_limit=rate_limit, log_dir=log_dir)
        stack.callback(sandbox.stop)
        running = Stack(sandbox=sandbox, log_dir=log_dir)
        process_env = function_env(sandbox, rate_limit=rate_limit, **dict(env or {}))
        for name in functions:
            function = start_function(name, process_env, log_dir=log_dir)
            stack.callback(function.stop)
            running.functions[name] = function
        yield running


def function_client(timeout: float = 600.0) -> httpx.Client:
    """A keep-alive client that calls functions with the benchmark's API key."""
    return httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=timeout)


def new_items(count: int, prefix: str) -> list[dict[str, Any]]:
    """Item bodies for create-items' JSON API, each with its own name."""
    stamp = time.time_ns() % 1_000_000_007
    return [
        {"fieldData": {"name": f"{prefix} {stamp} {index}", "summary": f"Benchmark item {index}."}}
        for index in range(count)
    ]


def item_results(body: Any) -> list[dict[str, Any]]:
    """The per-item results of a create-items or update-items answer."""
    if isinstance(body, dict):
        for key in ("results", "items"):
            results = body.get(key)
            if isinstance(results, list):
                return results
    if isinstance(body, list):
        return body
    return []


def count_status(body: Any, *statuses: str) -> int:
    return sum(1 for result in item_results(body) if result.get("status") in statuses)


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What the sandbox counted between two /_sandbox/stats snapshots."""

    def diff(key: str) -> dict[str, int]:
        old, new = before.get(key) or {}, after.get(key) or {}
        return {k: new[k] - old.get(k, 0) for k in new if new[k] - old.get(k, 0)}

    return {
        "total": (after.get("total") or 0) - (before.get("total") or 0),
        "byRoute": diff("byRoute"),
        "byStatus": diff("byStatus"),
    }


def collection_total(sandbox: SandboxServer, collection_id: str) -> int:
    """How many staged items the collection holds (one request, with the read-only token so that
    counting spends nothing of the full token's rate limit)."""
    with sandbox.api(sandbox.read_only_token) as api:
        response = api.get(f"/collections/{collection_id}/items", params={"limit": 1})
        response.raise_for_status()
        return int(response.json()["pagination"]["total"])


def slug(name: str) -> str:
    """A Webflow-valid slug for an ASCII name, as a naive client would compute it."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
