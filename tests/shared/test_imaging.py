"""shared/uploads/imaging.py on generated photos: each input class, what comes out, and what is refused."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator

import pytest
from PIL import Image

from bench.photos import (
    GPS_IFD,
    ORIENTATION,
    encode,
    heic_photo,
    jpeg_photo,
    photo_pixels,
    red_corner,
)
from shared.core.filetypes import MAX_IMAGE_BYTES, sniff_image
from shared.uploads.imaging import (
    ImageLimits,
    ImageRefused,
    check_svg,
    prepare_image,
    scan_clean_image,
)
from tests.support import REPO_ROOT

LIMITS = ImageLimits()


def opened(data: bytes | None) -> Image.Image:
    assert data is not None
    return Image.open(io.BytesIO(data))


def private_tags(image: Image.Image) -> set[str]:
    exif = image.getexif()
    found = set()
    if exif.get_ifd(GPS_IFD):
        found.add("gps")
    if exif.get(0x010F) or exif.get(0x0110):
        found.add("maker")
    if image.info.get("xmp") or image.info.get("XML:com.adobe.xmp"):
        found.add("xmp")
    return found


# --- pass-through --------------------------------------------------------------------------


def test_an_image_within_the_limits_upright_and_clean_passes_through_byte_for_byte() -> None:
    data = encode(photo_pixels(800, 600), "JPEG", quality=85)
    prepared = prepare_image(data, "jpg", LIMITS)
    assert prepared.derived is False
    assert prepared.md5 == hashlib.md5(data).hexdigest()
    assert (prepared.width, prepared.height, prepared.size) == (800, 600, len(data))
    assert prepared.describe() == "original"


def test_a_clean_png_and_webp_pass_through() -> None:
    for fmt, extension in (("PNG", "png"), ("WEBP", "webp")):
        data = encode(photo_pixels(300, 200), fmt)
        assert prepare_image(data, extension, LIMITS).derived is False


# --- the streamed scan: clean JPEGs and PNGs told without Pillow ----------------------------


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def png_with_chunk_after_the_pixels(kind: bytes, body: bytes) -> bytes:
    data = encode(photo_pixels(64, 48), "PNG")
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk + data[end:]


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_the_scan_finds_a_clean_jpeg_and_png_whatever_the_chunking(piece: int) -> None:
    for fmt, extension in (("JPEG", "jpg"), ("PNG", "png")):
        data = encode(photo_pixels(320, 200), fmt)
        found = scan_clean_image(pieces(data, piece), extension, LIMITS)
        assert found is not None, fmt
        assert found.derived is False
        assert (found.width, found.height, found.size) == (320, 200, len(data))
        assert found.md5 == hashlib.md5(data).hexdigest()
        # The same answer as the full path.
        assert found == prepare_image(data, extension, LIMITS)


def test_the_scan_leaves_to_the_full_path_what_needs_work_or_is_wrong() -> None:
    clean_png = encode(photo_pixels(64, 48), "PNG")
    needs_work = {
        "EXIF (GPS, orientation)": (jpeg_photo(64, 48, orientation=6), "jpg"),
        "a comment": (encode(photo_pixels(64, 48), "JPEG", comment=b"at home"), "jpg"),
        "text after the pixels": (png_with_chunk_after_the_pixels(b"tEXt", b"k\x00v"), "png"),
        "an animation": (
            encode(
                photo_pixels(64, 48), "PNG", save_all=True, append_images=[photo_pixels(64, 48)]
            ),
            "png",
        ),
        "longer than the bound": (encode(photo_pixels(400, 100), "JPEG"), "jpg"),
        "another format under the name": (clean_png, "jpg"),
        "truncated": (clean_png[: len(clean_png) // 2], "png"),
        "not a type it scans": (encode(photo_pixels(64, 48), "WEBP"), "webp"),
    }
    limits = ImageLimits(max_long_edge=300)
    for case, (data, extension) in needs_work.items():
        assert scan_clean_image(pieces(data, 1000), extension, limits) is None, case


def test_the_scan_stops_reading_once_it_knows() -> None:
    data = jpeg_photo(640, 480)  # EXIF first: known after its first segment
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for piece in pieces(data, 4096):
            read.append(len(piece))
            yield piece

    assert scan_clean_image(chunks(), "jpg", LIMITS) is None
    assert sum(read) < len(data) // 4


def test_the_scan_imports_no_pillow() -> None:
    probe = (
        "import sys; from shared.uploads.imaging import ImageLimits, scan_clean_image; "
        "data = open(sys.argv[1], 'rb').read(); "
        "found = scan_clean_image([data], 'png', ImageLimits()); "
        "print(found is not None, 'PIL' in sys.modules)"
    )
    with tempfile.NamedTemporaryFile(suffix=".png") as file:
        file.write(encode(photo_pixels(32, 32), "PNG"))
        file.flush()
        completed = subprocess.run(
            [sys.executable, "-c", probe, file.name],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert completed.stdout.split() == ["True", "False"]


# --- metadata ------------------------------------------------------------------------------


def test_gps_and_maker_tags_are_stripped_from_a_jpeg_without_touching_its_pixels() -> None:
    data = jpeg_photo(640, 480, orientation=1)
    assert private_tags(opened(data)) == {"gps", "maker"}
    prepared = prepare_image(data, "jpg", LIMITS)
    assert prepared.derived
    out = opened(prepared.data)
    assert private_tags(out) == set()
    assert prepared.steps == ("metadata stripped, pixels untouched",)
    # Same scan data: the pixels decode identically.
    assert out.tobytes() == opened(data).tobytes()


def test_the_icc_profile_is_kept_and_chosen_tags_are_kept() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = photo_pixels(320, 240)
    exif = Image.Exif()
    exif[0x8298] = "(c) Studio"
    exif[0x013B] = "A. Photographer"
    exif[0x8825] = {2: (48.0, 51.0, 29.0)}
    data = encode(image, "JPEG", quality=90, icc_profile=icc, exif=exif)
    limits = ImageLimits(keep_tags=frozenset({"Copyright", "Artist"}))
    out = opened(prepare_image(data, "jpg", limits).data)
    assert out.info.get("icc_profile") == icc
    kept = out.getexif()
    assert (kept.get(0x8298), kept.get(0x013B)) == ("(c) Studio", "A. Photographer")
    assert not kept.get_ifd(GPS_IFD)


def test_png_text_and_exif_chunks_are_dropped_losslessly() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at home")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>gps</x:xmpmeta>")
    data = encode(photo_pixels(200, 150), "PNG", pnginfo=info)
    prepared = prepare_image(data, "png", LIMITS)
    assert prepared.derived
    assert prepared.extension == "png"
    assert prepared.data is not None
    assert b"tEXt" not in prepared.data
    assert b"iTXt" not in prepared.data
    assert opened(prepared.data).tobytes() == opened(data).tobytes()


# --- orientation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "corner", "size"),
    [(3, "bottom-right", (400, 300)), (6, "top-right", (300, 400)), (8, "bottom-left", (300, 400))],
)
def test_the_exif_orientation_is_applied_to_the_pixels(
    orientation: int, corner: str, size: tuple[int, int]
) -> None:
    data = jpeg_photo(400, 300, orientation=orientation)
    prepared = prepare_image(data, "jpg", LIMITS)
    out = opened(prepared.data)
    assert (out.size, red_corner(out)) == (size, corner)
    assert out.getexif().get(ORIENTATION, 1) == 1
    assert private_tags(out) == set()
    assert "turned upright" in prepared.steps


# --- conversion and fitting ----------------------------------------------------------------


def test_a_heic_becomes_an_upright_jpeg_without_gps() -> None:
    data = heic_photo(600, 400, orientation=6)
    assert sniff_image(data[:64]) == "heif"
    prepared = prepare_image(data, "heic", LIMITS)
    out = opened(prepared.data)
    assert (prepared.extension, prepared.content_type, out.format) == ("jpg", "image/jpeg", "JPEG")
    assert (out.size, red_corner(out)) == ((400, 600), "top-right")
    assert private_tags(out) == set()


def test_webp_output_by_setting_and_for_transparency() -> None:
    data = heic_photo(300, 200)
    prepared = prepare_image(data, "heif", ImageLimits(output_format="webp"))
    assert (prepared.extension, opened(prepared.data).format) == ("webp", "WEBP")
    rgba = photo_pixels(200, 100).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((200, 100)))
    tiff = encode(rgba, "TIFF")
    prepared = prepare_image(tiff, "tiff", LIMITS)
    assert prepared.extension == "webp"
    assert opened(prepared.data).mode == "RGBA"


def test_a_bmp_and_a_tiff_are_converted() -> None:
    for fmt, extension in (("BMP", "bmp"), ("TIFF", "tif")):
        prepared = prepare_image(encode(photo_pixels(120, 80), fmt), extension, LIMITS)
        assert (prepared.extension, prepared.width, prepared.height) == ("jpg", 120, 80)


def test_an_image_over_the_long_edge_is_downscaled() -> None:
    data = jpeg_photo(1800, 1200, gps=False)
    prepared = prepare_image(data, "jpg", ImageLimits(max_long_edge=900))
    assert (prepared.width, prepared.height) == (900, 600)
    assert prepared.steps[0] == "downscaled from 1800×1200"


def test_an_image_over_the_byte_limit_lands_under_it_at_the_highest_quality_that_fits() -> None:
    data = jpeg_photo(1600, 1200, quality=100, gps=False)
    limit = len(data) // 3
    limits = ImageLimits(max_bytes=limit, quality_floor=30)
    prepared = prepare_image(data, "jpg", limits)
    assert prepared.size <= limit
    quality = int(prepared.steps[-1].rsplit(" ", 1)[1])
    # One step up would not fit: the search found the highest quality.
    image = opened(data)
    above = encode(image, "JPEG", quality=quality + 1, optimize=True, progressive=True)
    assert quality == 92 or len(above) > limit


def test_a_png_over_the_limit_becomes_lossy_and_fits() -> None:
    data = encode(photo_pixels(1200, 900), "PNG")
    limits = ImageLimits(max_bytes=len(data) // 4)
    prepared = prepare_image(data, "png", limits)
    assert prepared.size <= limits.max_bytes
    assert prepared.extension == "jpg"


def test_the_quality_floor_forces_a_smaller_size_when_needed() -> None:
    data = jpeg_photo(1200, 900, quality=100, gps=False, seed=3)
    limits = ImageLimits(max_bytes=40_000, quality_floor=80)
    prepared = prepare_image(data, "jpg", limits)
    assert prepared.size <= 40_000
    assert prepared.width < 1200
    assert any("to fit" in step for step in prepared.steps)


# --- animations ----------------------------------------------------------------------------


def animated_gif(frames: int, size: int) -> bytes:
    images = [photo_pixels(size, size, seed=n).convert("P") for n in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


def test_an_animated_gif_within_the_limit_passes_through() -> None:
    data = animated_gif(3, 64)
    assert prepare_image(data, "gif", LIMITS).derived is False


def test_an_animated_gif_over_the_limit_is_refused_with_the_reason() -> None:
    data = animated_gif(3, 64)
    with pytest.raises(ImageRefused, match="animated image .* over Webflow's"):
        prepare_image(data, "gif", ImageLimits(max_bytes=len(data) - 1))


# --- refusals ------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # A PNG header claiming 100,000 × 100,000 pixels, with almost no data behind it.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    data = b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    with pytest.raises(ImageRefused, match="more than IMAGE_MAX_PIXELS"):
        prepare_image(data, "png", LIMITS)


def test_a_truncated_jpeg_that_needs_work_is_refused() -> None:
    data = jpeg_photo(800, 600, orientation=6)
    with pytest.raises(ImageRefused, match="cannot be decoded|truncated"):
        prepare_image(data[: len(data) // 2], "jpg", LIMITS)


def test_content_that_is_not_what_its_name_says_is_refused() -> None:
    png = encode(photo_pixels(50, 50), "PNG")
    with pytest.raises(ImageRefused, match="the content is PNG data, not the .jpg"):
        prepare_image(png, "jpg", LIMITS)
    with pytest.raises(ImageRefused, match="not a recognisable image"):
        prepare_image(b"%PDF-1.7 not an image", "png", LIMITS)


# --- SVG -----------------------------------------------------------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def test_a_plain_svg_passes_through() -> None:
    assert prepare_image(SVG, "svg", LIMITS).derived is False


@pytest.mark.parametrize(
    ("svg", "reason"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handler"),
        (
            (
                b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
                b'<image x:href="https://tracker.example/p.png"/></svg>'
            ),
            "external resource",
        ),
        (
            (
                b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://x.example/a.css);'
                b"</style></svg>"
            ),
            "stylesheet",
        ),
        (
            b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
            "entities",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
            "foreignobject",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>',
            "external resource",
        ),
    ],
)
def test_an_svg_with_active_content_is_refused(svg: bytes, reason: str) -> None:
    with pytest.raises(ImageRefused, match=reason):
        check_svg(svg)


def test_an_svg_over_the_limit_is_refused() -> None:
    with pytest.raises(ImageRefused, match="over Webflow's limit"):
        check_svg(SVG, max_bytes=len(SVG) - 1)


def test_limits_default_to_webflows() -> None:
    assert LIMITS.max_bytes == MAX_IMAGE_BYTES == 4 * 1024 * 1024
