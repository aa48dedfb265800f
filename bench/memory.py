"""Asset memory: peak memory growth while upload-asset streams 1, 4 and 10 MB files.

The measurement itself is bench/asset_memory.py; this module runs it and puts its figures in the
report.
"""

from __future__ import annotations

from bench import asset_memory
from bench.report import Section

MB = 1024 * 1024


def run(*, sizes_mb: list[float]) -> Section:
    results = asset_memory.measure(sizes_mb)
    section = Section(
        key="assetMemory",
        title="Asset memory: peak growth while upload-asset streams one file",
        columns=["file", "type", "RSS growth MB", "× file", "Python peak MB", "× file"],
        data={"results": results, "targetRatio": asset_memory.TARGET_RATIO},
    )
    for row in results:
        section.rows.append(
            [
                f"{row['sizeMB']:g} MB",
                row["contentType"],
                row["rssGrowth"] / MB,
                row["rssRatio"],
                row["tracemallocPeak"] / MB,
                row["tracemallocRatio"],
            ]
        )
    section.notes.append(
        "A fresh interpreter per size, warmed up by one small upload, then one finalized CloudEvent "
        "through the real entry point: RSS sampled every 2 ms, Python allocations by tracemalloc on a "
        f"second copy. Target ≤ {asset_memory.TARGET_RATIO}× the file size. Files over 4 MB are PDFs "
        "(Webflow's image limit)."
    )
    return section
