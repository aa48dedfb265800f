"""Asset memory: peak memory growth while upload-asset streams 1, 4 and 10 MB files.

The measurement itself is bench/asset_memory.py (kept by upload-asset's owners); this module runs it
and puts its figures in the report.
"""

from __future__ import annotations

from bench.report import Section


def run(*, sizes_mb: list[float]) -> Section:
    from bench import asset_memory  # noqa: F401

    raise NotImplementedError("bench/asset_memory.py has not landed yet")
