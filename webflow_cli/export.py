"""``webflow-functions export COLLECTION``: a collection as CSV, JSON or JSON Lines, written as
``webflow-functions sync`` reads it back, so that export then sync of the same file writes nothing.

Columns are field slugs, ``slug`` first. Values are written as people read them: an Option by its
name, a Reference by the referenced item's slug, a MultiReference as a list of slugs (in CSV,
joined by ", "), an Image or File by its hosted URL (a MultiImage as URLs joined by "; " in CSV),
a Switch as true/false, everything else as Webflow stores it. Each referenced collection is read
once. ``--download DIR`` also saves every image and file there (named after its asset) and writes
its path, relative to the output file, instead of the URL.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from webflow_cli.console import Screen
from webflow_cli.settings import client_and_settings

if TYPE_CHECKING:
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection, Field, Item

__all__ = ["Exporter", "write_export"]

_FILE_TYPES = frozenset({"Image", "File", "MultiImage"})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def read_all(client: WebflowClient, collection_id: str) -> Iterator[Item]:
    """Every staged item of a collection, 100 a request."""
    offset = 0
    while True:
        page = client.list_items(collection_id, offset=offset)
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.pagination.total:
            return


class Exporter:
    """Turns a collection's items into rows of readable values."""

    def __init__(
        self,
        client: WebflowClient,
        schema: Collection,
        *,
        download: Path | None = None,
        relative_to: Path | None = None,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.schema = schema
        self.download = download
        self.relative_to = relative_to
        self.allowed_hosts = allowed_hosts
        self._slugs: dict[str, dict[str, str]] = {}  # collection id -> {item id: slug}
        self.downloaded = 0

    @property
    def joiners(self) -> dict[str, str]:
        """How a CSV cell joins a list field's values, as the sync splits them back."""
        joined = {"MultiReference": ", ", "MultiImage": "; "}
        return {f.slug: joined[f.type] for f in self.schema.fields if f.type in joined}

    @property
    def columns(self) -> list[str]:
        """``slug``, then the other fields in the schema's order."""
        slugs = [f.slug for f in self.schema.fields if f.slug != "slug"]
        return ["slug", *slugs]

    def rows(self, items: Iterable[Item]) -> Iterator[dict[str, Any]]:
        """One row per item: {column: readable value}."""
        fields = {f.slug: f for f in self.schema.fields}
        for item in items:
            row: dict[str, Any] = {"slug": item.slug or ""}
            for column in self.columns[1:]:
                value = item.field_data.get(column)
                row[column] = self.readable(fields[column], value)
            yield row

    def readable(self, field: Field, value: Any) -> Any:
        """A stored value as a person (and the sync) reads it."""
        if value is None or value == "" or value == []:
            return None
        validations = field.validations or {}
        if field.type == "Option":
            names = {o.get("id"): o.get("name") for o in validations.get("options") or []}
            return names.get(value, value)
        if field.type in ("Reference", "MultiReference"):
            slugs = self._referenced(str(validations.get("collectionId") or ""))
            if field.type == "Reference":
                return slugs.get(str(value), value)
            return [slugs.get(str(entry), entry) for entry in value]
        if field.type in _FILE_TYPES:
            files = value if isinstance(value, list) else [value]
            sources = [self._file(entry) for entry in files if isinstance(entry, Mapping)]
            return sources if field.type == "MultiImage" else (sources[0] if sources else None)
        return value

    def _referenced(self, collection_id: str) -> dict[str, str]:
        if collection_id not in self._slugs:
            self._slugs[collection_id] = (
                {item.id: item.slug or item.id for item in read_all(self.client, collection_id)}
                if collection_id
                else {}
            )
        return self._slugs[collection_id]

    def _file(self, value: Mapping[str, Any]) -> str:
        url = str(value.get("url") or "")
        if self.download is None or not url:
            return url
        from webflow_cli.fetch import download

        name = _SAFE_NAME.sub("-", posixpath.basename(url.split("?")[0])) or "file"
        target = self.download / f"{value.get('fileId') or ''}-{name}".lstrip("-")
        if not target.exists():
            self.download.mkdir(parents=True, exist_ok=True)
            target.write_bytes(
                download(url, max_bytes=25 * 1024 * 1024, allowed_hosts=self.allowed_hosts)
            )
            self.downloaded += 1
        base = self.relative_to or Path.cwd()
        return os.path.relpath(target, base)


def write_export(
    out: TextIO,
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    joiners: Mapping[str, str] | None = None,
) -> int:
    """Write ``rows`` as CSV, JSON or JSON Lines; how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {key: _cell(value, (joiners or {}).get(key, ", ")) for key, value in row.items()}
            )
            count += 1
        return count
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(_present(row), ensure_ascii=False) + "\n")
            count += 1
        return count
    listed = [_present(row) for row in rows]
    json.dump(listed, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return len(listed)


def _present(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}


def _cell(value: Any, joiner: str) -> str:
    """A CSV cell: a list joined as the sync splits it (references by ", ", files by "; ")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return joiner.join(str(entry) for entry in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export_text(exporter: Exporter, fmt: str, items: Iterable[Item]) -> str:
    """The export as text (tests, small collections)."""
    buffer = io.StringIO()
    write_export(buffer, fmt, exporter.columns, exporter.rows(items), exporter.joiners)
    return buffer.getvalue()


def command_export(args: argparse.Namespace, screen: Screen) -> int:
    """``webflow-functions export``: a collection to a file (or standard output), as ``sync``
    reads it back."""
    client, _settings = client_and_settings(args)
    schema = client.get_collection(args.collection)
    output = Path(args.output) if args.output else None
    fmt = args.format or (
        {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(output.suffix.lower(), "csv")
        if output
        else "csv"
    )
    exporter = Exporter(
        client,
        schema,
        download=Path(args.download) if args.download else None,
        relative_to=output.resolve().parent if output else None,
        allowed_hosts=frozenset(args.allow_host),
    )
    rows = exporter.rows(read_all(client, args.collection))
    if output is None:
        count = write_export(screen.out, fmt, exporter.columns, rows, exporter.joiners)
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = write_export(handle, fmt, exporter.columns, rows, exporter.joiners)
    screen.note(f"exported {count:,} items" + (f" to {output}" if output else ""))
    return 0
