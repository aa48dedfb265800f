"""`python -m bench`: every benchmark in one run, against real processes on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    capacity,
    coldstart,
    images,
    intake,
    latency,
    memory,
    publishing,
    sync,
    throughput,
)
from bench.report import RESULTS_DIR, Section, machine, render, write

SECTIONS = (
    "capacity",
    "throughput",
    "coldstart",
    "latency",
    "memory",
    "images",
    "publishing",
    "sync",
    "references",
    "burst",
    "outage",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rate-limit", type=int, default=600, help="sandbox requests/minute (R)")
    parser.add_argument("--items", type=int, default=5000, help="items for the throughput run")
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=60.0,
        help="how long the one-item-per-request baseline runs",
    )
    parser.add_argument(
        "--busy-seconds",
        type=float,
        default=60.0,
        help="how long create-items keeps the token busy before the steady-state runs",
    )
    parser.add_argument("--cold-rounds", type=int, default=9, help="cold starts per function")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--memory-sizes", default="1,4,10", help="file sizes in MB")
    parser.add_argument("--publish-items", type=int, default=1000)
    parser.add_argument("--sync-rows", type=int, default=10_000)
    parser.add_argument("--burst-forms", type=int, default=1000)
    parser.add_argument("--burst-webhooks", type=int, default=200)
    parser.add_argument("--burst-seconds", type=float, default=60.0)
    parser.add_argument("--outage-forms", type=int, default=300)
    parser.add_argument("--outage-webhooks", type=int, default=60)
    parser.add_argument("--outage-seconds", type=float, default=300.0)
    parser.add_argument(
        "--intake-rate-limit", type=int, default=60, help="R of the burst and outage runs"
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections among {', '.join(SECTIONS)}",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[str, Callable[[], Section]]]:
    """The sections to run, each a call with this run's scale."""
    steps: dict[str, Callable[[], Section]] = {
        "capacity": lambda: capacity.run(),
        "throughput": lambda: throughput.run(
            rate_limit=args.rate_limit,
            items=args.items,
            baseline_seconds=args.baseline_seconds,
            busy_seconds=args.busy_seconds,
        ),
        "coldstart": lambda: coldstart.run(rounds=args.cold_rounds),
        "latency": lambda: latency.run(samples=args.latency_samples),
        "memory": lambda: memory.run(
            sizes_mb=[float(size) for size in args.memory_sizes.split(",")]
        ),
        "images": lambda: images.run(),
        "publishing": lambda: publishing.run(items=args.publish_items, rate_limit=args.rate_limit),
        "sync": lambda: sync.run(rows=args.sync_rows, rate_limit=args.rate_limit),
        "references": lambda: sync.run_references(rate_limit=args.rate_limit),
        "burst": lambda: intake.run_burst(
            forms=args.burst_forms,
            webhooks=args.burst_webhooks,
            seconds=args.burst_seconds,
            rate_limit=args.intake_rate_limit,
        ),
        "outage": lambda: intake.run_outage(
            forms=args.outage_forms,
            webhooks=args.outage_webhooks,
            outage_seconds=args.outage_seconds,
            rate_limit=args.intake_rate_limit,
        ),
    }
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - set(steps)
    if unknown:
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    return [(name, steps[name]) for name in wanted]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine_info = machine()
    sections: list[Section] = []
    failed = False
    for name, step in plan(args):
        started = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            section = step()
        except Exception as exc:  # noqa: BLE001 (one broken section must not hide the others' figures)
            failed = True
            traceback.print_exc()
            section = Section(
                key=name, title=name, columns=[], error=f"{type(exc).__name__}: {exc}"
            )
        section.data["benchSeconds"] = round(time.perf_counter() - started, 1)
        print(
            f"bench: {name} done in {section.data['benchSeconds']} s", file=sys.stderr, flush=True
        )
        sections.append(section)
    markdown_path, json_path = write(sections, machine_info, results_dir=args.results_dir)
    print(render(sections, machine_info, title="Benchmarks"))
    print(f"written: {markdown_path} {json_path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
