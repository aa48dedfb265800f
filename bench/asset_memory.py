"""Peak memory growth of upload-asset while it streams 1, 4 and 10 MB files (target: at most 1.5x the file).

Run: ``python -m bench.asset_memory [--sizes 1,4,10] [--composite] [--json]``. It starts the sandbox and fake-gcs-server, uploads
each file to the bucket, then measures in a fresh interpreter per size: that child warms up (imports,
clients, one small upload), then delivers the object's finalized CloudEvent to the real entry point
through the functions-framework test client and reports

- ``tracemallocPeak``: the peak of Python allocations during the delivery, over the level before it;
- ``rssGrowth``: how far the resident set size rose during the delivery over its level just before
  (sampled every 2 ms from /proc/self/statm; elsewhere, the rise of ru_maxrss).

Images are limited to 4 MB by Webflow, so the 10 MB file (and anything over 4 MB) is a PDF.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

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
    """Incompressible content of about ``size`` bytes: a real PNG of random pixels (upload-asset
    reads an image before it uploads it), or PDF-like bytes."""
    if content_type != "image/png":
        header = b"%PDF-1.7\n"
        return header + os.urandom(size - len(header))
    import io

    from PIL import Image

    side = max(1, int((size * 0.98 / 3) ** 0.5))  # deflate adds a little to random pixels
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _store(bucket: Any, name: str, size: int, content_type: str, composite: bool) -> None:
    """Write the benchmark object: in one upload, or composed from two parts."""
    data = _content(size, content_type)
    if not composite:
        bucket.blob(name).upload_from_string(data, content_type=content_type)
        return
    half = len(data) // 2
    parts = [bucket.blob(f"parts/{name}.{i}") for i in range(2)]
    parts[0].upload_from_string(data[:half])
    parts[1].upload_from_string(data[half:])
    target = bucket.blob(name)
    target.content_type = content_type
    target.compose(parts)


def _maxrss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _current_rss_bytes() -> int | None:
    """This process's resident set size now (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident set size (VmHWM), where Linux allows it (4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return _peak_rss_bytes() is not None


def _peak_rss_bytes() -> int | None:
    """This process's peak resident set size since the last reset (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class RssSampler:
    """The peak resident set size over a block: the kernel's own peak (VmHWM) reset at the start
    where Linux allows it, else the resident size sampled in a background thread.

    ``getrusage``'s ``ru_maxrss`` is not used: it is the whole life's peak, and a process started
    by a large parent inherits the parent's level.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.before = _current_rss_bytes()
        self.peak = self.before or 0
        self._exact = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _current_rss_bytes() or 0)
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self.before = _current_rss_bytes()
        self.peak = self.before or 0
        self._exact = _reset_peak_rss()
        if not self._exact:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._exact:
            self.peak = max(self.peak, _peak_rss_bytes() or 0)
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _current_rss_bytes() or 0)

    @property
    def growth(self) -> int | None:
        """Peak minus the level before (None where /proc is unavailable)."""
        return None if self.before is None else max(0, self.peak - self.before)


def _event(bucket: str, name: str, composite: bool = False) -> Any:
    """The finalized CloudEvent for the object's current generation (as Cloud Storage reports a composite)."""
    from cloudevents.http import CloudEvent
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="bench", credentials=AnonymousCredentials())
    blob = client.bucket(bucket).get_blob(name)
    data = {
        key: blob._properties.get(key)
        for key in (
            "bucket",
            "name",
            "generation",
            "metageneration",
            "contentType",
            "size",
            "md5Hash",
            "crc32c",
            "timeCreated",
            "updated",
        )
    }
    if composite:
        data.pop("md5Hash")
        data["componentCount"] = 2
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


def child(
    bucket: str, names: Sequence[str], size: int, warmup_name: str, composite: bool = False
) -> dict[str, Any]:
    """Measure in this (fresh) process: RSS on one copy of the file, tracemalloc on the other.

    The two are kept apart because tracemalloc's own bookkeeping would show up in the RSS.
    """
    import functions_framework
    from cloudevents.conversion import to_binary

    app = functions_framework.create_app("upload_asset", str(MAIN), "cloudevent").test_client()

    def request(object_name: str) -> tuple[dict[str, str], bytes]:
        headers, body = to_binary(
            _event(bucket, object_name, composite and object_name != warmup_name)
        )
        return dict(headers), body

    def deliver(headers: dict[str, str], body: bytes) -> None:
        status = app.post("/", headers=headers, data=body).status_code
        if status != 200:
            raise RuntimeError(f"delivery answered {status}")

    deliver(*request(warmup_name))
    rss_name, traced_name = names

    headers, body = request(rss_name)
    gc.collect()
    maxrss_before = _maxrss_bytes()  # where /proc is missing: the life's peak, coarser
    with RssSampler() as sampler:
        deliver(headers, body)
    rss_growth = (
        sampler.growth if sampler.growth is not None else max(0, _maxrss_bytes() - maxrss_before)
    )

    headers, body = request(traced_name)
    gc.collect()
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    deliver(headers, body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"fileBytes": size, "tracemallocPeak": peak - baseline, "rssGrowth": rss_growth}


def measure(
    sizes_mb: Sequence[float] = (1, 4, 10), *, composite: bool = False
) -> list[dict[str, Any]]:
    """Start the servers, upload the files and measure each in a fresh interpreter.

    With ``composite``, each file is composed from two parts and announced as a composite, so that it
    is read twice: once to hash it, once to upload it.
    """
    sys.path.insert(0, str(REPO_ROOT))
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from bench._procs import function_env, run_sandbox, start_fake_gcs

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asset-memory-") as tmp:
        sandbox = run_sandbox(log_dir=Path(tmp) / "sandbox")
        gcs, gcs_url = start_fake_gcs(root=Path(tmp) / "gcs", log_dir=Path(tmp) / "gcs-log")
        try:
            os.environ["STORAGE_EMULATOR_HOST"] = gcs_url
            client = storage.Client(project="bench", credentials=AnonymousCredentials())
            bucket = client.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
            env = function_env(
                sandbox,
                STORAGE_EMULATOR_HOST=gcs_url,
                UPLOAD_PREFIX="uploads/",
                LOG_LEVEL="WARNING",
            )
            for size_mb in sizes_mb:
                name, content_type, size = _file_for(size_mb)
                warmup = f"uploads/warmup-{uuid.uuid4().hex[:8]}.png"
                bucket.blob(warmup).upload_from_string(
                    _content(2048, "image/png"), content_type="image/png"
                )
                copies = [name.replace("bench-", f"bench-{copy}-") for copy in ("rss", "traced")]
                for copy in copies:  # different bytes: two distinct assets
                    _store(bucket, copy, size, content_type, composite)
                argv = [
                    sys.executable,
                    "-m",
                    "bench.asset_memory",
                    "--child",
                    bucket.name,
                    ",".join(copies),
                    str(size),
                    warmup,
                    "composite" if composite else "plain",
                ]
                done = subprocess.run(
                    argv,
                    env=env,
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"measuring {name} failed:\n{done.stderr[-4000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                figures.update(
                    sizeMB=size_mb,
                    contentType=content_type,
                    composite=composite,
                    tracemallocRatio=round(figures["tracemallocPeak"] / size, 3),
                    rssRatio=round(figures["rssGrowth"] / size, 3),
                )
                figures["withinTarget"] = (
                    max(figures["tracemallocRatio"], figures["rssRatio"]) <= TARGET_RATIO
                )
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
    parser.add_argument(
        "--composite", action="store_true", help="composite objects (hashed while streaming)"
    )
    parser.add_argument(
        "--child",
        nargs=5,
        metavar=("BUCKET", "NAMES", "SIZE", "WARMUP", "KIND"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.child:
        bucket, names, size, warmup, kind = args.child
        print(json.dumps(child(bucket, names.split(","), int(size), warmup, kind == "composite")))
        return 0
    results = measure(
        [float(part) for part in args.sizes.split(",") if part.strip()], composite=args.composite
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"{'file':>10} {'type':<16} {'tracemalloc peak':>18} {'ratio':>6} {'RSS growth':>18} {'ratio':>6}"
        )
        for row in results:
            print(
                f"{row['sizeMB']:>8g}MB {row['contentType']:<16} {row['tracemallocPeak'] / MB:>15.2f} MB "
                f"{row['tracemallocRatio']:>6.2f} {row['rssGrowth'] / MB:>15.2f} MB {row['rssRatio']:>6.2f}"
            )
        if args.composite:
            print("composite objects: read twice (hashed, then uploaded)")
        print(f"target: at most {TARGET_RATIO}x the file size")
    return 0 if all(row["withinTarget"] for row in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
