"""Each benchmark section runs end to end at a tiny scale and produces figures (timings are not judged)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import (
    capacity,
    coldstart,
    images,
    intake,
    latency,
    memory,
    publishing,
    soak,
    sync,
    throughput,
)
from bench.__main__ import main
from bench.report import Section

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def numbers_in(section: Section) -> list[float]:
    return [value for row in section.rows for value in row if isinstance(value, (int, float))]


def assert_measured(section: Section) -> None:
    assert section.error is None
    assert section.rows
    assert all(math.isfinite(value) for value in numbers_in(section))


def test_throughput_creates_every_item_and_runs_the_baseline() -> None:
    section = throughput.run(rate_limit=600, items=50, baseline_seconds=1.0, busy_seconds=1.0)

    assert_measured(section)
    steady, baseline = section.data["steady"], section.data["baseline"]
    assert steady["itemsInSandbox"] == section.data["burst"]["itemsInSandbox"] == 50
    assert steady["reportedCreated"] == 50
    # One bulk create per call of at most 100 items: the sandbox saw exactly those.
    creates = sum(n for route, n in steady["requestsByRoute"].items() if route.startswith("POST "))
    assert creates == steady["calls"]
    # The baseline's requests are its items and the 429s it waited out, nothing else.
    assert baseline["webflowRequests"] == baseline["items"] + baseline["rateLimited"]
    assert baseline["items"] >= 1


def test_cold_start_times_each_function_and_the_baselines() -> None:
    section = coldstart.run(rounds=1)

    assert_measured(section)
    assert set(section.data["seconds"]) == {
        "hello-world",
        "hello-world + API call",
        "stack floor",
        "stack floor + storage",
        "create-items",
        "update-items",
        "publish-live",
        "upload-asset",
    }
    ratios = {row[0]: row[-1] for row in section.rows}
    assert ratios["hello-world"] == ratios["stack floor"] == ""
    # Each function is compared with its own floor: the ratio is its time over the floor's.
    seconds = section.data["seconds"]  # one round: each list holds one start
    expected = seconds["upload-asset"][0] / seconds["stack floor + storage"][0]
    assert float(ratios["upload-asset"]) == pytest.approx(expected, rel=0.01, abs=0.01)


def test_latency_samples_both_paths() -> None:
    section = latency.run(samples=5, warmup=1)

    assert_measured(section)
    assert len(section.data)
    assert section.data["samples"] == 5


def test_asset_memory_measures_each_size() -> None:
    section = memory.run(sizes_mb=[0.25])

    assert_measured(section)
    [result] = section.data["results"]
    assert result["sizeMB"] == 0.25
    # The streamed upload allocated something, and tracemalloc's view agrees with the ratio.
    assert result["tracemallocPeak"] > 0
    assert result["tracemallocRatio"] == pytest.approx(
        result["tracemallocPeak"] / (0.25 * 1024 * 1024), rel=0.01
    )


def test_publishing_publishes_the_pending_items() -> None:
    section = publishing.run(items=30, rate_limit=600)

    assert_measured(section)
    assert section.data["published"] == 30


def test_image_preparation_measures_each_photo() -> None:
    section = images.run(scale=0.1)

    assert_measured(section)
    for result in section.data["results"].values():
        assert result["bytesOut"] <= 4 * 1024 * 1024
        assert result["upright"]
        assert not result["gps"]


def test_sync_runs_the_command_three_times_and_the_loop() -> None:
    section = sync.run(rows=200, rate_limit=6000, baseline_seconds=0.5, window_seconds=0)

    assert_measured(section)
    first, second, third = (section.data[k] for k in ("first", "second", "third"))
    assert (first["creates"], first["patches"]) == (2, 0)
    assert (second["creates"], second["patches"], second["lists"]) == (1, 1, 2)
    assert third["writes"] == 0


def test_a_burst_through_the_intake_creates_each_submission_once() -> None:
    section = intake.run_burst(forms=30, webhooks=10, seconds=2.0, rate_limit=600)

    assert_measured(section)
    assert section.data["statuses"] == {202: 40}
    assert (section.data["lost"], section.data["duplicated"], section.data["items"]) == (0, 0, 40)
    assert section.data["webflowCreateRequests"] >= 1


def test_an_outage_loses_nothing_and_drains_after_recovery() -> None:
    section = intake.run_outage(forms=12, webhooks=4, outage_seconds=4.0, rate_limit=600)

    assert_measured(section)
    assert set(section.data["runs"]) == {"start", "spread"}
    for run in section.data["runs"].values():
        assert run["statuses"] == {202: 16}
        assert run["queuedAtRecovery"] == 16
        assert run["failedSet"] == 0
        assert run["secondsAfterRecovery"] is not None
        assert (run["lost"], run["duplicated"], run["items"]) == (0, 0, 16)


def test_main_writes_the_markdown_and_json_report(tmp_path: Path) -> None:
    code = main(["--only", "publishing", "--publish-items", "10", "--results-dir", str(tmp_path)])

    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["python"]
    assert report["sections"]["publishing"]["rows"]
    assert "Publishing" in (tmp_path / "report.md").read_text()


def test_sandbox_capacity_reports_requests_per_second() -> None:
    section = capacity.run(seconds=0.5)

    assert_measured(section)
    data = section.data
    assert data["requests"] >= 1
    assert data["requestsPerSecond"] == pytest.approx(data["requests"] / data["seconds"], rel=0.03)


AUDITED = (
    "lost",
    "duplicatedItems",
    "duplicatedAssets",
    "imagesWithoutAsset",
    "unattachedImages",
    "refusedAfterRetries",
)


def test_soak_runs_the_stack_and_audits_it(tmp_path: Path) -> None:
    code = soak.main(
        [
            "--submissions",
            "20",
            "--images",
            "3",
            "--minutes",
            "3",
            "--seed",
            "7",
            "--outage-seconds",
            "3",
            "--outage-submissions",
            "6",
            "--results-dir",
            str(tmp_path),
        ]
    )

    counts = json.loads((tmp_path / "soak.json").read_text())["sections"]["soak"]["data"]
    # Exit 1 means the audit found something lost or duplicated: the soak's whole point.
    assert code == 0, {key: counts.get(key) for key in AUDITED}
    assert counts["submissionsSent"] == 20 + 6
    assert counts["imagesSent"] == 3
    assert {key: counts[key] for key in AUDITED} == dict.fromkeys(AUDITED, 0)
    # The whole outage: its submissions are among the audited ones, written with no replay.
    assert counts["outage"]["settled"] == "settled"
    assert counts["outage"]["secondsAfterRecovery"] is not None
    assert counts["intake"]["failed"] == 0


def test_references_sync_in_one_command_and_round_trip_without_writes() -> None:
    section = sync.run_references(posts=30, authors=3, tags=2, rate_limit=6000)

    assert_measured(section)
    first, second, back = (section.data[k] for k in ("first", "second", "exportedBack"))
    assert first["writes"] == 3  # one create per collection
    assert (second["writes"], back["writes"]) == (0, 0)
