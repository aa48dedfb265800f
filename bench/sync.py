"""Sync: 10,000 rows into an empty collection, then the same file with 1% of rows changed and 1% new,
then once more unchanged, through the ``webflow-functions sync`` command at R requests a minute;
against a loop that re-writes every row one item per request.

Each run is the installed console script in its own process, against a fresh sandbox; Webflow
requests are the sandbox's own counts (list, create, patch). The one-item-per-request loop runs for
``baseline_seconds`` (it would take rows / R minutes) and its total time is extrapolated from its
measured rate.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import running_stack, stats_delta
from bench.report import Section


def write_catalogue(path: Path, rows: int, *, changed: int = 0, new: int = 0) -> None:
    """``rows`` products (SKU-00000...), the first ``changed`` with a new rating, plus ``new``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Summary", "Rating"])
        for n in range(rows + new):
            rating = (n % 5) + (0.5 if n < changed else 0)
            writer.writerow([f"Product {n}", f"SKU-{n:05d}", rating])


def run_command(sandbox: Any, path: Path, collection: str, rate_limit: int) -> dict[str, Any]:
    """One ``webflow-functions sync`` run: its seconds and the Webflow requests it made."""
    return run_cli(
        sandbox, ["sync", str(path), "--collection", collection, "--key", "summary"], rate_limit
    )


def run_cli(sandbox: Any, argv: list[str], rate_limit: int) -> dict[str, Any]:
    """One run of the installed ``webflow-functions``: its seconds and the Webflow requests."""
    env = {
        **os.environ,
        "WEBFLOW_API_TOKEN": sandbox.token,
        "WEBFLOW_API_BASE_URL": sandbox.api_base_url,
        "WEBFLOW_SITE_ID": sandbox.site_id,
        "WEBFLOW_RATE_LIMIT_PER_MINUTE": str(rate_limit),
        "LOG_LEVEL": "WARNING",
    }
    script = Path(sys.executable).parent / "webflow-functions"
    before = sandbox.stats()
    started = time.perf_counter()
    completed = subprocess.run(
        [str(script), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"sync failed ({completed.returncode}): {completed.stdout[-2000:]}")
    by_route = stats_delta(before, sandbox.stats())["byRoute"]
    lists = sum(
        n for route, n in by_route.items() if route.startswith("GET ") and "/items" in route
    )
    creates = sum(
        n for route, n in by_route.items() if route.startswith("POST ") and route.endswith("/items")
    )
    patches = sum(n for route, n in by_route.items() if route.startswith("PATCH "))
    reads = sum(n for route, n in by_route.items() if route.startswith("GET "))
    return {
        "seconds": seconds,
        "requests": sum(by_route.values()),
        "reads": reads,
        "lists": lists,
        "creates": creates,
        "patches": patches,
        "writes": creates + patches,
        "summary": completed.stdout.strip().splitlines()[-8:],
    }


def write_referenced(folder: Path, posts: int, authors: int, tags: int) -> list[Path]:
    """authors.csv, tags.csv and posts.csv whose posts name their author and two tags."""
    files = [folder / "posts.csv", folder / "authors.csv", folder / "tags.csv"]
    with files[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Bio"])
        writer.writerows([f"Author {n}", f"Writes about {n}"] for n in range(authors))
    with files[2].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name"])
        writer.writerows([f"Tag {n}"] for n in range(tags))
    with files[0].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Summary", "Author", "Tags"])
        for n in range(posts):
            pair = f"Tag {n % tags}, Tag {(n + 1) % tags}"
            writer.writerow([f"Post {n}", f"REF-{n:05d}", f"Author {n % authors}", pair])
    return files


def run_references(
    *, posts: int = 1000, authors: int = 50, tags: int = 20, rate_limit: int = 600
) -> Section:
    """Authors, tags and posts naming them, synced in one command, then again, then exported
    and synced back: the requests each run makes."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-refs-") as folder,
        running_stack(rate_limit=rate_limit) as stack,
    ):
        sandbox = stack.sandbox
        files = [str(path) for path in write_referenced(Path(folder), posts, authors, tags)]
        argv = ["sync", *files, "--key", "name"]
        first = run_cli(sandbox, argv, rate_limit)
        second = run_cli(sandbox, argv, rate_limit)
        exported = str(Path(folder) / "exported.csv")
        collection = sandbox.collections["posts"]
        run_cli(sandbox, ["export", collection, "--output", exported], rate_limit)
        back = run_cli(
            sandbox, ["sync", exported, "--collection", collection, "--key", "summary"], rate_limit
        )
    section = Section(
        key="references",
        title=(
            f"Sync of {authors} authors, {tags} tags and {posts:,} posts naming them "
            f"(webflow-functions sync, one command), R = {rate_limit}"
        ),
        columns=["run", "seconds", "Webflow requests", "reads", "writes"],
    )
    for label, result in (
        ("three files into empty collections", first),
        ("the same files again", second),
        ("posts exported, then synced back", back),
    ):
        section.rows.append(
            [label, result["seconds"], result["requests"], result["reads"], result["writes"]]
        )
    section.notes.append(
        "Targets: ≤ 16 write requests beyond the reads for the first run; none for the second "
        "and for export then sync. Each referenced collection is read once per file."
    )
    section.data = {"first": first, "second": second, "exportedBack": back}
    return section


def naive_loop(
    sandbox: Any, collection: str, rows: int, rate_limit: int, seconds: float
) -> dict[str, Any]:
    """Re-write every row one item per request, paced at R, for ``seconds``; extrapolated."""
    with sandbox.api() as api:
        items: list[dict[str, Any]] = []
        offset = 0
        while len(items) < rows:
            page = api.get(f"/collections/{collection}/items", params={"offset": offset}).json()
            items += page["items"]
            offset += len(page["items"])
            if not page["items"]:
                break
        interval = 60.0 / rate_limit
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds and sent < len(items):
            time.sleep(max(0.0, started + sent * interval - time.perf_counter()))
            item = items[sent]
            response = api.patch(
                f"/collections/{collection}/items/{item['id']}",
                json={"fieldData": dict(item["fieldData"])},
            )
            if response.status_code == 429:
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            sent += 1
        elapsed = time.perf_counter() - started
    rate = sent / elapsed if elapsed else 0.0
    return {
        "sent": sent,
        "seconds": elapsed,
        "perSecond": rate,
        "projectedSeconds": rows / rate if rate else None,
        "projectedRequests": rows,
    }


def run(
    *,
    rows: int = 10_000,
    rate_limit: int = 600,
    baseline_seconds: float = 30.0,
    window_seconds: float = 61.0,
) -> Section:
    changed = new = max(1, rows // 100)
    with (
        tempfile.TemporaryDirectory(prefix="bench-sync-") as folder,
        running_stack(rate_limit=rate_limit) as stack,
    ):
        sandbox = stack.sandbox
        collection = sandbox.collections["posts"]
        first_file, second_file = Path(folder) / "first.csv", Path(folder) / "second.csv"
        write_catalogue(first_file, rows)
        write_catalogue(second_file, rows, changed=changed, new=new)
        first = run_command(sandbox, first_file, collection, rate_limit)
        time.sleep(window_seconds)  # a fresh rate-limit window for each measured run
        second = run_command(sandbox, second_file, collection, rate_limit)
        time.sleep(window_seconds)
        third = run_command(sandbox, second_file, collection, rate_limit)
        time.sleep(window_seconds)
        naive = naive_loop(sandbox, collection, rows + new, rate_limit, baseline_seconds)
    section = Section(
        key="sync",
        title=f"Sync of {rows:,} rows at R = {rate_limit} (webflow-functions sync)",
        columns=["run", "seconds", "Webflow requests", "list", "create", "patch"],
    )
    for label, result in (
        (f"{rows:,} rows into an empty collection", first),
        (f"again with {changed:,} changed and {new:,} new", second),
        ("again, nothing changed", third),
    ):
        section.rows.append(
            [
                label,
                result["seconds"],
                result["requests"],
                result["lists"],
                result["creates"],
                result["patches"],
            ]
        )
    section.rows.append(
        [
            f"one item per request, re-writing all {rows + new:,} rows (projected)",
            naive["projectedSeconds"],
            naive["projectedRequests"],
            0,
            0,
            naive["projectedRequests"],
        ]
    )
    section.notes.append(
        f"The loop ran {naive['seconds']:.0f} s ({naive['sent']:,} patches, "
        f"{naive['perSecond']:.1f}/s) and is projected to the whole file; it is generous to the "
        "loop (item ids known up front). Each sync run starts on a fresh rate-limit window."
    )
    section.data = {"first": first, "second": second, "third": third, "naive": naive}
    return section


if __name__ == "__main__":
    from bench.report import machine, render

    print(render([run()], machine(), title="Sync"))
