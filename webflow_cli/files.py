"""Image and file columns: local paths (in the data file's folder) and public URLs uploaded as site assets once, each named with its MD5 so that a rerun finds it and uploads nothing again."""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.webflow.errors import WebflowError
from webflow_cli.rows import Row

if TYPE_CHECKING:
    from shared.cms.fields import FieldMapper
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = ["MAX_DOWNLOAD_BYTES", "AssetStore", "attach_files"]

MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024


_MD5_TAG = re.compile(r"-([0-9a-f]{16})\.[a-z0-9]+$")


@dataclass
class AssetStore:
    """Assets of the site by the MD5 tag in their file name; uploads what is not there yet."""

    client: WebflowClient
    site_id: str
    base_dir: Path
    # A dry run looks assets up but uploads nothing: a file Webflow does not have yet stands in
    # as an id no asset has (never sent, since a dry run writes nothing), so its row shows as
    # changed and the file is counted as to upload.
    dry_run: bool = False
    # Hosts the user trusts although they are not public (--allow-host).
    allowed_hosts: frozenset[str] = frozenset()
    uploaded: int = 0
    reused: int = 0
    _known: dict[str, dict[str, str]] | None = None
    _planned: dict[str, dict[str, str]] = field(default_factory=dict)
    # Assets by hosted URL: a URL of the site's own asset (an export's) is that asset, unread.
    _hosted: dict[str, dict[str, str]] = field(default_factory=dict)

    def _index(self) -> dict[str, dict[str, str]]:
        if self._known is None:
            self._known = {}
            for asset in self.client.list_assets(self.site_id):
                if not asset.hosted_url:
                    continue
                value = {"fileId": asset.id, "url": asset.hosted_url}
                self._hosted[asset.hosted_url] = value
                match = _MD5_TAG.search(asset.original_file_name or "")
                if match:
                    self._known[match.group(1)] = value
        return self._known

    def value(self, source: str) -> dict[str, str]:
        """{fileId, url} of the asset for ``source`` (a path or an http(s) URL)."""
        self._index()
        if source in self._hosted:
            self.reused += 1
            return self._hosted[source]
        data, name = self._load(source)
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        content_type = _content_type(extension)
        if extension in _image_extensions():
            data, extension, content_type = _prepared(data, extension)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        known = self._index().get(md5[:16])
        if known is not None:
            self.reused += 1
            return known
        if self.dry_run:
            if md5[:16] not in self._planned:
                self._planned[md5[:16]] = {"fileId": "0" * 8 + md5[:16]}
                self.uploaded += 1
            return self._planned[md5[:16]]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rpartition(".")[0] or name)[:60] or "file"
        asset = self.client.upload_asset(
            self.site_id,
            f"{stem}-{md5[:16]}.{extension}",
            io.BytesIO(data),
            len(data),
            md5,
            content_type,
        )
        value = {"fileId": asset.id, "url": asset.hosted_url or ""}
        self._index()[md5[:16]] = value
        self.uploaded += 1
        return value

    def _load(self, source: str) -> tuple[bytes, str]:
        from webflow_cli.fetch import confined_path, download

        if source.startswith(("http://", "https://")):
            data = download(source, max_bytes=MAX_DOWNLOAD_BYTES, allowed_hosts=self.allowed_hosts)
            return data, posixpath.basename(source.split("?")[0]) or "file"
        path = confined_path(self.base_dir, source)
        return path.read_bytes(), path.name


def _image_extensions() -> frozenset[str]:
    from shared.core.filetypes import INPUT_IMAGE_TYPES

    return frozenset(INPUT_IMAGE_TYPES)


def _content_type(extension: str) -> str:
    from shared.core.filetypes import FILE_TYPES

    types = FILE_TYPES.get(extension)
    if not types:
        raise ValueError(f"a .{extension or '?'} file cannot be an asset")
    return types[0]


def _prepared(data: bytes, extension: str) -> tuple[bytes, str, str]:
    """An image made web-ready as upload-asset would (shared/uploads/imaging.py)."""
    from shared.uploads.imaging import ImageLimits, ImageRefused, prepare_image

    try:
        prepared = prepare_image(data, extension, ImageLimits())
    except ImageRefused as exc:
        raise ValueError(str(exc)) from None
    if prepared.data is None:
        return data, extension, prepared.content_type
    return prepared.data, prepared.extension, prepared.content_type


def attach_files(
    rows: Sequence[Row], schema: Collection, mapper: FieldMapper, store: AssetStore | None
) -> None:
    """Replace file and image columns' paths and URLs with assets; a row whose file cannot be
    had is marked failed (its error names the column)."""
    from shared.core.filetypes import FILE_FIELD_TYPES

    for row in rows:
        for column, value in list(row.fields.items()):
            slug = mapper.target_slug(column, schema)
            target = schema.field(slug) if slug else None
            if target is None or target.type not in FILE_FIELD_TYPES:
                continue
            sources = _sources(value)
            if not sources:
                continue
            if store is None:
                row.error = f"column {column}: files need WEBFLOW_SITE_ID"
                break
            try:
                assets = [store.value(source) for source in sources]
            except (ValueError, OSError, WebflowError) as exc:
                # One file that cannot be had fails its row; the run goes on with the others.
                row.error = f"column {column}: {exc}"
                break
            row.fields[column] = assets if target.type == "MultiImage" else assets[0]


def _sources(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    return []  # already an asset value ({fileId, url}), or empty
