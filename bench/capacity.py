"""Sandbox capacity: simple GETs per second, so the other figures measure the functions, not the
sandbox. The measurement is bench/sandbox_rps.py, run in its own process (it pins CPUs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import Section

SCRIPT = Path(__file__).resolve().parent / "sandbox_rps.py"


def run(*, seconds: float = 3.0) -> Section:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"sandbox_rps printed no figures:\n{done.stderr[-2000:]}")
    figures = json.loads(lines[-1])
    section = Section(
        key="sandboxCapacity",
        title="Sandbox capacity (the yardstick)",
        columns=["GET/s", "requests", "seconds", "server pinned to one core"],
        data=figures,
    )
    section.rows.append(
        [
            figures["requestsPerSecond"],
            figures["requests"],
            figures["seconds"],
            "yes" if figures.get("serverPinnedToOneCore") else "no",
        ]
    )
    section.notes.append(
        f"One keep-alive connection, GET /v2/sites/{{id}}; target ≥ {figures.get('target')}/s."
    )
    return section
