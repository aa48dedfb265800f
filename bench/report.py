"""The benchmark report: the machine, one table per section, written as Markdown and JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu_model = platform.processor() or "unknown"
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpuModel": cpu_model,
        "memoryGB": memory_gb,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "loadAverage": [round(value, 2) for value in os.getloadavg()],
        "commit": _git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (values need not be sorted)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Section:
    """One benchmark's figures: a table for people and raw data for the JSON report."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.error:
            lines += [f"Not measured: {self.error}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.columns) + " |")
            lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
            for row in self.rows:
                lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
            lines.append("")
        for note in self.notes:
            lines.append(f"- {note}")
        if self.notes:
            lines.append("")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "data": self.data,
            "error": self.error,
        }


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(sections: list[Section], machine_info: dict[str, Any], *, title: str) -> str:
    """The whole report as Markdown."""
    head = [
        f"# {title}",
        "",
        (
            f"Machine: {machine_info['nproc']} CPU ({machine_info['cpuModel']}), "
            f"{machine_info['memoryGB']} GB RAM, Python {machine_info['python']}, "
            f"{machine_info['platform']}; load average at start {machine_info['loadAverage']}; "
            f"commit {machine_info['commit']}; {machine_info['date']}."
        ),
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(section.markdown() for section in sections)


def write(
    sections: list[Section],
    machine_info: dict[str, Any],
    *,
    results_dir: Path = RESULTS_DIR,
    stem: str = "report",
    title: str = "Benchmarks",
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write report.md and report.json; return their paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    markdown_path = results_dir / f"{stem}.md"
    json_path = results_dir / f"{stem}.json"
    markdown_path.write_text(render(sections, machine_info, title=title))
    payload = {
        "machine": machine_info,
        "sections": {section.key: section.as_json() for section in sections},
        **(extra or {}),
    }
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return markdown_path, json_path
