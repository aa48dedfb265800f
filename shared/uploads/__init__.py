"""upload-asset's pipeline: a Cloud Storage object becomes a Webflow asset exactly once
(``assets``, ``ledger``), images prepared and stripped of private metadata (``imaging``), SVG
checked by allow-list (``svg``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import lazy_surface

if TYPE_CHECKING:
    from shared.uploads.assets import (
        ObjectRef,
        PermanentUploadError,
        UploadSettings,
        process_object,
    )
    from shared.uploads.imaging import ImageLimits, ImageRefused, prepare_image

__all__ = [
    "ImageLimits",
    "ImageRefused",
    "ObjectRef",
    "PermanentUploadError",
    "UploadSettings",
    "prepare_image",
    "process_object",
]

__getattr__, __dir__ = lazy_surface(
    __name__,
    {
        "ImageLimits": "imaging",
        "ImageRefused": "imaging",
        "ObjectRef": "assets",
        "PermanentUploadError": "assets",
        "UploadSettings": "assets",
        "prepare_image": "imaging",
        "process_object": "assets",
    },
)
