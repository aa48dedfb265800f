"""What image preparation takes (the limits an image must fit) and gives (the prepared file), and
why it refuses one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.core.filetypes import (
    MAX_IMAGE_BYTES,
)

__all__ = [
    "CONTENT_TYPES",
    "CONVERTED_EXTENSIONS",
    "EXTENSIONS",
    "ImageLimits",
    "ImageRefused",
    "OutputFormat",
    "PreparedImage",
]

OutputFormat = Literal["jpeg", "webp"]


# Sniffed formats Webflow refuses, converted on the way.
CONVERTED_EXTENSIONS = frozenset({"heic", "heif", "tif", "tiff", "bmp"})


CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}


EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "png": "png"}


class ImageRefused(Exception):
    """The image cannot become an asset; the message says why (it goes to ``webflow-error``)."""


@dataclass(frozen=True)
class ImageLimits:
    """What a prepared image must fit, and how it is made to."""

    max_bytes: int = MAX_IMAGE_BYTES
    max_long_edge: int = 3200
    quality_floor: int = 60
    max_pixels: int = 50_000_000
    output_format: OutputFormat = "jpeg"
    keep_tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PreparedImage:
    """What goes to Webflow: the original (``data`` None) or a derived file.

    ``held`` is the original's bytes when they were read whole (a small object): sent from memory
    instead of being read from Cloud Storage a second time.
    """

    data: bytes | None
    extension: str
    content_type: str
    width: int
    height: int
    size: int
    md5: str
    steps: tuple[str, ...] = field(default_factory=tuple)
    held: bytes | None = field(default=None, repr=False)

    @property
    def derived(self) -> bool:
        return self.data is not None

    @property
    def in_memory(self) -> bytes | None:
        """The bytes to send when they are at hand (derived, or held); None: stream the object."""
        return self.data if self.data is not None else self.held

    def describe(self) -> str:
        """For the ledger: "original" or what was done."""
        return "; ".join(self.steps) if self.derived else "original"
