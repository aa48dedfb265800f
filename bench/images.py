"""Image preparation: real photos made web-ready, timed, with their peak memory growth.

Three inputs are generated (and kept in a temporary folder for the run): a 24-megapixel JPEG of about
17 MB (a camera writes about 20 MB for as many pixels: generated ones hold less noise) with EXIF
orientation 6 and GPS coordinates, as a camera writes it; a 12-megapixel HEIC, as a phone writes it;
and a PNG of about 30 MB. Each is prepared by shared/uploads/imaging.py with the default settings in a fresh
interpreter (Pillow imported and the file read first), which reports the time, the peak resident
set size above its level just before, and the bytes in and out; the output is then checked: within
Webflow's 4 MB limit, upright (the red corner of the generated photo is top-right after a quarter
turn), no GPS.

`python -m bench.images` prints the table; `make bench` includes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import _procs  # noqa: F401  (puts the repository root on sys.path)
from bench.report import Section

MB = 1024 * 1024
TARGET_GROWTH_MB = 200

# Runs in a fresh interpreter: prepare one file, report time, memory and what came out.
PROBE = """
import io, json, sys, time
from PIL import Image
import shared.uploads.imaging as imaging
from bench.asset_memory import RssSampler
from bench.photos import GPS_IFD, red_corner

path, extension = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
if extension in ("heic", "heif"):
    imaging._register_heif()

with RssSampler() as sampler:
    started = time.perf_counter()
    prepared = imaging.prepare_image(data, extension, imaging.ImageLimits())
    seconds = time.perf_counter() - started
out = prepared.data if prepared.data is not None else data
image = Image.open(io.BytesIO(out))
print(json.dumps({
    "seconds": seconds,
    "peakGrowth": sampler.growth or 0,
    "bytesIn": len(data),
    "bytesOut": prepared.size,
    "input": list(Image.open(io.BytesIO(data)).size) if extension not in ("heic",) else None,
    "output": [prepared.width, prepared.height],
    "format": image.format,
    "corner": red_corner(image),
    "gps": bool(image.getexif().get_ifd(GPS_IFD)),
    "steps": list(prepared.steps),
}))
"""


def make_inputs(folder: Path, scale: float = 1.0) -> list[tuple[str, Path, str, str]]:
    """(label, path, extension, expected corner) of each generated input; ``scale`` shrinks
    each side (the tests run it small)."""
    from bench.photos import encode, heic_photo, jpeg_photo, photo_pixels

    def side(pixels: int) -> int:
        return max(16, int(pixels * scale))

    jpeg = folder / "camera.jpg"
    # Quality 98 with full-resolution colour, as a camera's finest setting: about 17 MB.
    jpeg.write_bytes(
        jpeg_photo(side(6000), side(4000), orientation=6, quality=98, subsampling=0, seed=24)
    )
    heic = folder / "phone.heic"
    heic.write_bytes(heic_photo(side(4032), side(3024), orientation=6, seed=12))
    png = folder / "scan.png"
    png.write_bytes(encode(photo_pixels(side(5200), side(3600), seed=30), "PNG", compress_level=6))

    def megapixels(width: int, height: int) -> str:
        return f"{side(width) * side(height) / 1e6:.0f} MP"

    return [
        (f"{megapixels(6000, 4000)} JPEG, orientation 6, GPS", jpeg, "jpg", "top-right"),
        (f"{megapixels(4032, 3024)} HEIC, orientation 6, GPS", heic, "heic", "top-right"),
        (f"{megapixels(5200, 3600)} PNG", png, "png", "top-left"),
    ]


def measure(path: Path, extension: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), extension],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"preparing {path.name} failed: {completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(scale: float = 1.0) -> Section:
    section = Section(
        key="images",
        title="Image preparation (upload-asset): photos made web-ready",
        columns=[
            "input",
            "MB in",
            "MB out",
            "output",
            "seconds",
            "peak RSS growth MB",
            "within 4 MB",
            "upright",
            "GPS",
        ],
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-images-") as folder:
        for label, path, extension, corner in make_inputs(Path(folder), scale):
            result = measure(path, extension)
            result["upright"] = result["corner"] == corner
            results[label] = result
            section.rows.append(
                [
                    label,
                    result["bytesIn"] / MB,
                    result["bytesOut"] / MB,
                    f"{result['format']} {result['output'][0]}×{result['output'][1]}",
                    result["seconds"],
                    result["peakGrowth"] / MB,
                    "yes" if result["bytesOut"] <= 4 * MB else "NO",
                    "yes" if result["upright"] else "NO",
                    "kept" if result["gps"] else "none",
                ]
            )
    section.data = {"results": results, "targetGrowthMB": TARGET_GROWTH_MB}
    section.notes.append(
        "Default settings (long edge 3200 px, quality floor 60, JPEG output). A fresh interpreter "
        "per file: Pillow imported and the file read before the measurement starts, so the growth "
        f"is the preparation's own (target ≤ {TARGET_GROWTH_MB} MB for the 24 MP JPEG). Inputs over "
        "IMAGE_MAX_INPUT_BYTES (20 MB by default) are refused before download; raise it for scans."
    )
    return section


def main() -> int:
    from bench.report import machine, render

    section = run()
    print(render([section], machine(), title="Image preparation"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
