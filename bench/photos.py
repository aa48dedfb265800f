"""Photos as cameras and phones make them, generated for the image benchmarks and tests."""

from __future__ import annotations

import io
import random
from typing import Any

GPS_IFD = 0x8825
ORIENTATION = 0x0112
COPYRIGHT = 0x8298
ARTIST = 0x013B


def photo_pixels(width: int, height: int, seed: int = 0) -> Any:
    """A photo-like RGB image: smooth gradients with noise, so that JPEG sizes are realistic, and
    a red block in the top-left corner to tell which way is up."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    small = Image.new("RGB", (max(1, width // 16), max(1, height // 16)))
    small.putdata(
        [
            (
                (x * 255 // max(1, small.width) + rng.randrange(64)) % 256,
                (y * 255 // max(1, small.height) + rng.randrange(64)) % 256,
                rng.randrange(256),
            )
            for y in range(small.height)
            for x in range(small.width)
        ]
    )
    image = small.resize((width, height), resample=Image.Resampling.BICUBIC)
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    image = Image.blend(image, noise, 0.25).filter(ImageFilter.SMOOTH)
    ImageDraw.Draw(image).rectangle((0, 0, width // 8, height // 8), fill=(255, 0, 0))
    return image


def camera_exif(orientation: int = 1, *, gps: bool = True, copyright: str | None = None) -> Any:
    """EXIF as a phone writes it: orientation, GPS coordinates, maker tags."""
    from PIL import Image

    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Phone Maker"  # Make
    exif[0x0110] = "Phone 15"  # Model
    if copyright:
        exif[COPYRIGHT] = copyright
        exif[ARTIST] = "A. Photographer"
    if gps:
        gps_ifd = exif.get_ifd(GPS_IFD)
        gps_ifd[1] = "N"
        gps_ifd[2] = (48.0, 51.0, 29.0)
        gps_ifd[3] = "E"
        gps_ifd[4] = (2.0, 17.0, 40.0)
    return exif


def encode(image: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_photo(
    width: int,
    height: int,
    *,
    orientation: int = 1,
    gps: bool = True,
    quality: int = 95,
    subsampling: int = 2,
    seed: int = 0,
    copyright: str | None = None,
) -> bytes:
    """A camera JPEG with EXIF (orientation, GPS); ``subsampling`` 0 keeps colour at full
    resolution (4:4:4), 2 halves it both ways (4:2:0)."""
    exif = camera_exif(orientation, gps=gps, copyright=copyright)
    return encode(
        photo_pixels(width, height, seed),
        "JPEG",
        quality=quality,
        subsampling=subsampling,
        exif=exif,
    )


def heic_photo(width: int, height: int, *, orientation: int = 1, seed: int = 0) -> bytes:
    """A phone HEIC with EXIF (orientation, GPS)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = camera_exif(orientation)
    return encode(photo_pixels(width, height, seed), "HEIF", quality=90, exif=exif.tobytes())


def red_corner(image: Any) -> str:
    """Which corner of the image holds the red block: "top-left", "top-right", ..."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    corners = {
        "top-left": (width // 32, height // 32),
        "top-right": (width - 1 - width // 32, height // 32),
        "bottom-left": (width // 32, height - 1 - height // 32),
        "bottom-right": (width - 1 - width // 32, height - 1 - height // 32),
    }
    for name, point in corners.items():
        red, green, blue = rgb.getpixel(point)
        if red > 200 and green < 80 and blue < 80:
            return name
    return "none"
