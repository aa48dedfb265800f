"""Peak memory growth of upload-asset while it streams 1, 4 and 10 MB files (target: at most 1.5x the file).

Run: ``python -m bench.asset_memory [--sizes 1,4,10]``. It starts the sandbox and fake-gcs-server, uploads
each file to the bucket, then measures in a fresh interpreter per size: that child warms up (imports,
clients, one small upload), then delivers the object's finalized CloudEvent to the real entry point
through the functions-framework test client and reports

- ``tracemallocPeak``: the peak of Python allocations during the delivery, over the level before it;
- ``rssGrowth``: how far the process's maximum resident set size (ru_maxrss) rose during the delivery.

Images are limited to 4 MB by Webflow, so the 10 MB file (and anything over 4 MB) is a PDF.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import tracemalloc
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
MAIN = REPO_ROOT / "functions" / "upload-asset" / "main.py"
MB = 1024 * 1024
TARGET_RATIO = 1.5


def _file_for(size_mb: float) -> tuple[str, str, int]:
    """Object name, content type and size for a benchmark file of size_mb."""
    size = int(size_mb * MB)
    if size <= 4 * MB:
        return f"uploads/bench-{size_mb:g}mb.png", "image/png", size
    return f"uploads/bench-{size_mb:g}mb.pdf", "application/pdf", size


def _content(size: int, content_type: str) -> bytes:
    """Incompressible bytes with a plausible header."""
    header = b"\x89PNG\r\n\x1a\n" if content_type == "image/png" else b"%PDF-1.7\n"
    return header + os.urandom(size - len(header))


def _maxrss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _event(bucket: str, name: str) -> Any:
    """The finalized CloudEvent for the object's current generation."""
    from cloudevents.http import CloudEvent
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    blob = client.bucket(bucket).get_blob(name)
    data = {key: blob._properties.get(key) for key in
            ("bucket", "name", "generation", "metageneration", "contentType", "size", "md5Hash", "crc32c",
             "timeCreated", "updated")}
    attributes = {
        "specversion": "1.0",
        "type": "google.cloud.storage.object.v1.finalized",
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": f"objects/{name}",
        "id": uuid.uuid4().hex,
        "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, data)


def child(bucket: str, name: str, size: int, warmup_name: str) -> dict[str, Any]:
    """Measure one delivery in this (fresh) process; the environment points at the servers."""
    import functions_framework
    from cloudevents.conversion import to_binary

    app = functions_framework.create_app("upload_asset", str(MAIN), "cloudevent").test_client()

    def deliver(object_name: str) -> int:
        headers, body = to_binary(_event(bucket, object_name))
        return int(app.post("/", headers=headers, data=body).status_code)

    if deliver(warmup_name) != 200:
        raise RuntimeError("warm-up delivery failed")
    event = _event(bucket, name)
    from cloudevents.conversion import to_binary as encode

    headers, body = encode(event)
    rss_before = _maxrss_bytes()
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    status = app.post("/", headers=headers, data=body).status_code
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = max(0, _maxrss_bytes() - rss_before)
    if status != 200:
        raise RuntimeError(f"delivery answered {status}")
    return {"fileBytes": size, "tracemallocPeak": peak - baseline, "rssGrowth": rss_growth}


def measure(sizes_mb: Sequence[float] = (1, 4, 10)) -> list[dict[str, Any]]:
    """Start the servers, upload the files and measure each in a fresh interpreter."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench._procs import function_env, run_sandbox, start_fake_gcs
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asset-memory-") as tmp:
        sandbox = run_sandbox(log_dir=Path(tmp) / "sandbox")
        gcs, gcs_url = start_fake_gcs(root=Path(tmp) / "gcs", log_dir=Path(tmp) / "gcs-log")
        try:
            os.environ["STORAGE_EMULATOR_HOST"] = gcs_url
            client = storage.Client(project="bench", credentials=AnonymousCredentials())
            bucket = client.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
            env = function_env(sandbox, STORAGE_EMULATOR_HOST=gcs_url, UPLOAD_PREFIX="uploads/",
                               LOG_LEVEL="WARNING")
            for size_mb in sizes_mb:
                name, content_type, size = _file_for(size_mb)
                warmup = f"uploads/warmup-{uuid.uuid4().hex[:8]}.png"
                bucket.blob(warmup).upload_from_string(_content(2048, "image/png"), content_type="image/png")
                data = _content(size, content_type)
                bucket.blob(name).upload_from_string(data, content_type=content_type)
                del data
                argv = [sys.executable, "-m", "bench.asset_memory", "--child", bucket.name, name, str(size), warmup]
                done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    raise RuntimeError(f"measuring {name} failed:\n{done.stderr[-4000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                figures.update(
                    sizeMB=size_mb,
                    contentType=content_type,
                    tracemallocRatio=round(figures["tracemallocPeak"] / size, 3),
                    rssRatio=round(figures["rssGrowth"] / size, 3),
                )
                figures["withinTarget"] = max(figures["tracemallocRatio"], figures["rssRatio"]) <= TARGET_RATIO
                results.append(figures)
        finally:
            gcs.stop()
            sandbox.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per size (and a JSON summary); exit 1 when a size exceeds the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,10", help="file sizes in MB, comma-separated")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    parser.add_argument("--child", nargs=4, metavar=("BUCKET", "NAME", "SIZE", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        bucket, name, size, warmup = args.child
        print(json.dumps(child(bucket, name, int(size), warmup)))
        return 0
    results = measure([float(part) for part in args.sizes.split(",") if part.strip()])
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'file':>10} {'type':<16} {'tracemalloc peak':>18} {'ratio':>6} {'ru_maxrss growth':>18} {'ratio':>6}")
        for row in results:
            print(f"{row['sizeMB']:>8g}MB {row['contentType']:<16} {row['tracemallocPeak'] / MB:>15.2f} MB "
                  f"{row['tracemallocRatio']:>6.2f} {row['rssGrowth'] / MB:>15.2f} MB {row['rssRatio']:>6.2f}")
        print(f"target: at most {TARGET_RATIO}x the file size")
    return 0 if all(row["withinTarget"] for row in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
