"""``webflow-functions``: the sync and schema commands, against Webflow or the sandbox.

``webflow-functions sync FILE --collection ID [--key FIELD]`` reads CSV, JSON or JSON Lines,
maps columns to fields (by slug or display name, or ``--map``), uploads image and file columns
given as local paths or http(s) URLs as assets (each tagged with its MD5 in its file name, so a
rerun finds it and uploads nothing again), and upserts the rows (shared/cms/sync.py): created,
updated (only the changed fields), unchanged, failed per row. A progress bar with an ETA that
counts the rate limit on a terminal, plain lines otherwise, a summary at the end; exit status 1
when a row failed. ``webflow-functions schema ID`` prints a collection's fields, or with
``--field-map`` a FIELD_MAP skeleton for a form.

Settings come from the environment as for the functions: ``WEBFLOW_API_TOKEN`` (never a
command-line argument: it would show in the process list and the shell's history),
``WEBFLOW_API_BASE_URL`` (the sandbox's, locally), ``WEBFLOW_SITE_ID`` (for asset uploads),
``WEBFLOW_RATE_LIMIT_PER_MINUTE``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import posixpath
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from shared.webflow.errors import WebflowError

if TYPE_CHECKING:
    from shared.cms.fields import FieldMapper
    from shared.cms.sync import SyncOutcome
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = ["main"]

MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
_MD5_TAG = re.compile(r"-([0-9a-f]{16})\.[a-z0-9]+$")


class UsageError(Exception):
    """A problem with the command's input: printed, exit status 2."""


@dataclass
class Row:
    """One input record and where it came from (a CSV or JSON Lines line, a JSON index)."""

    number: int
    fields: dict[str, Any]
    error: str | None = None


# --- reading ------------------------------------------------------------------------------------


def read_rows(path: Path, fmt: str | None = None) -> list[Row]:
    """The file's records: CSV (a header row), JSON (an array, or {"items": [...]}) or JSON Lines.

    Raises:
        UsageError: not UTF-8, or not parseable, naming the row.
    """
    fmt = fmt or {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        path.suffix.lower()
    )
    if fmt is None:
        raise UsageError(f"{path}: say --format csv, json or jsonl (unknown extension)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        number = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}: row {number} is not UTF-8 (byte {exc.start})") from None
    if fmt == "csv":
        return _csv_rows(text)
    if fmt == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                rows.append(Row(number, _record(_json_value(line, f"line {number}"), number)))
        return rows
    loaded = _json_value(text, str(path))
    records = loaded.get("items") if isinstance(loaded, dict) else loaded
    if not isinstance(records, list):
        raise UsageError(f'{path}: expected an array of objects (or {{"items": [...]}})')
    return [Row(index, _record(record, index)) for index, record in enumerate(records)]


def _csv_rows(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise UsageError("the CSV file has no header row")
    rows = []
    for record in reader:
        if None in record:
            raise UsageError(f"row {reader.line_num}: more values than columns")
        fields = {name: value for name, value in record.items() if name and value is not None}
        rows.append(Row(reader.line_num, fields))
    return rows


def _json_value(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from None


def _record(value: Any, number: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"row {number}: expected an object")
    inner = value.get("fieldData")
    return dict(inner) if isinstance(inner, dict) else dict(value)


# --- files and images ---------------------------------------------------------------------------


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


# --- progress -----------------------------------------------------------------------------------


@dataclass
class ProgressBar:
    """One line redrawn on a terminal; plain lines, one per stage and per tenth, otherwise."""

    stream: TextIO
    rate_per_minute: int
    terminal: bool
    started: float = field(default_factory=time.monotonic)
    _last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        remaining = self._remaining_requests(stage, done, total)
        eta = remaining * 60.0 / max(1, self.rate_per_minute)
        label = {"read": "reading the collection", "create": "creating", "update": "updating"}
        text = f"{label.get(stage, stage)}: {done:,}" + (f"/{total:,}" if total else "")
        if total:
            width = 30
            filled = int(width * done / max(1, total))
            text = f"[{'#' * filled}{'.' * (width - filled)}] {text}"
        text += f" · {time.monotonic() - self.started:.0f}s"
        if remaining:
            text += f" · ETA {_duration(eta)} at {self.rate_per_minute}/min"
        if self.terminal:
            self.stream.write("\r" + text.ljust(100)[:100])
            self.stream.flush()
            return
        tenth = int(10 * done / total) if total else 0
        if (stage, tenth) != self._last:
            self._last = (stage, tenth)
            self.stream.write(text + "\n")
            self.stream.flush()

    @staticmethod
    def _remaining_requests(stage: str, done: int, total: int | None) -> int:
        if not total:
            return 0
        return math.ceil(max(0, total - done) / 100)

    def finish(self) -> None:
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


# --- commands -----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> tuple[WebflowClient, Any]:
    from shared.cms.settings import MappingSettings
    from shared.core.config import load_settings
    from shared.webflow import get_client

    # The command writes directly: it reads the Webflow settings and the field mapping only.
    overrides: dict[str, Any] = {}
    if args.map is not None:
        overrides["field_map"] = _map_argument(args.map)
    settings = load_settings(MappingSettings, **overrides)
    return get_client(settings), settings


def _map_argument(value: str) -> str:
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        table = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--map: not JSON ({exc})") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError('--map: expected {"column": "field slug", ...}')
    return json.dumps(table)


def command_sync(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One file into ``--collection``, or several, each into the collection it names, in the
    order their references need (referenced collections first)."""
    client, settings = _client(args)
    plan = _plan(args, client, settings.webflow_site_id)
    status = 0
    for path, collection_id, key in plan:
        if len(plan) > 1:
            out.write(f"\n== {path} -> collection {collection_id}\n")
        status = max(
            status, _sync_file(args, client, settings, (path, collection_id, key), err, out)
        )
    return status


# (file, collection id, key field)
Planned = tuple[str, str, str]


def _plan(args: argparse.Namespace, client: WebflowClient, site_id: str | None) -> list[Planned]:
    """(file, collection id, key) in dependency order: from --manifest, FILE=COLLECTION, or a file
    named after its collection (slug or name, any case); one file may take --collection instead."""
    if args.manifest:
        given = _manifest(Path(args.manifest), args.key)
    elif not args.file:
        raise UsageError("name a FILE (or several), or --manifest")
    elif len(args.file) == 1 and args.collection:
        return [(args.file[0], args.collection, args.key)]
    else:
        given = [(*_file_and_name(entry), args.key) for entry in args.file]
    if args.collection:
        raise UsageError("--collection goes with one file; name each file's collection: FILE=ID")
    if not site_id:
        raise UsageError("several files (or none with --collection) need WEBFLOW_SITE_ID")
    named: dict[str, str] = {}
    for collection in client.list_collections(site_id):
        for name in (collection.id, collection.slug, collection.display_name):
            if name:
                named[name.strip().casefold()] = collection.id
    chosen: list[Planned] = []
    for path, name, key in given:
        collection_id = named.get(name.strip().casefold())
        if collection_id is None:
            raise UsageError(f"{path}: no collection {name!r} in the site")
        chosen.append((path, collection_id, key))
    return _dependency_order(client, chosen)


def _file_and_name(given: str) -> tuple[str, str]:
    path, _, name = given.partition("=")
    return path, name or Path(path).stem


def _manifest(path: Path, default_key: str) -> list[Planned]:
    """``{"files": [{"file", "collection"?, "key"?}, ...]}``: paths relative to the manifest."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable JSON manifest ({exc})") from None
    entries = body.get("files") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UsageError(f'{path}: expected {{"files": [{{"file": ..., "collection": ...}}]}}')
    planned: list[Planned] = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise UsageError(f'{path}: files[{number}] needs "file"')
        file = str(path.parent / entry["file"])
        name = str(entry.get("collection") or Path(entry["file"]).stem)
        planned.append((file, name, str(entry.get("key") or default_key)))
    return planned


def _dependency_order(client: WebflowClient, chosen: list[Planned]) -> list[Planned]:
    """The files ordered so that a collection comes after those it references."""
    refers: dict[str, set[str]] = {}
    for _path, collection_id, _key in chosen:
        schema = client.get_collection(collection_id)
        refers[collection_id] = {
            str((f.validations or {}).get("collectionId"))
            for f in schema.fields
            if f.type in ("Reference", "MultiReference")
        }
    ordered: list[Planned] = []
    waiting = list(chosen)
    while waiting:
        placed = {entry[1] for entry in ordered}
        pending = {entry[1] for entry in waiting}
        ready = [
            entry
            for entry in waiting
            if not (refers[entry[1]] & pending - {entry[1]}) or refers[entry[1]] <= placed
        ]
        if not ready:
            raise UsageError("the files' collections refer to each other in a circle")
        ordered += ready
        waiting = [entry for entry in waiting if entry not in ready]
    return ordered


def _sync_file(
    args: argparse.Namespace,
    client: WebflowClient,
    settings: Any,
    planned: Planned,
    err: TextIO,
    out: TextIO,
) -> int:
    file, collection_id, key = planned
    from shared.cms.fields import FieldMapper, is_empty
    from shared.cms.sync import SyncOptions, sync_items

    rows = read_rows(Path(file), args.format)
    if not rows:
        raise UsageError(f"{file}: no rows")
    if args.empty == "keep":
        for row in rows:
            row.fields = {name: value for name, value in row.fields.items() if not is_empty(value)}
    options = SyncOptions(
        key=key,
        dry_run=args.dry_run,
        publish=args.publish,
        complete=args.complete,
        missing=args.missing,
        cms_locale_id=args.locale,
    )
    mapper = FieldMapper.from_settings(settings)
    schema = client.get_collection(collection_id)
    if args.create_missing and not args.dry_run:
        created = create_missing_references(client, schema, mapper, rows)
        if created:
            out.write(f"created {created:,} referenced items that were missing\n")
    site_id = settings.webflow_site_id
    store = (
        AssetStore(
            client,
            site_id,
            Path(file).resolve().parent,
            dry_run=args.dry_run,
            allowed_hosts=frozenset(args.allow_host),
        )
        if site_id
        else None
    )
    if args.dry_run and store is None:
        _without_files(rows, schema, mapper)
    else:
        attach_files(rows, schema, mapper, store)
    usable = [row for row in rows if row.error is None]
    bar = ProgressBar(err, settings.webflow_rate_limit_per_minute, err.isatty())
    started = time.monotonic()
    outcome = sync_items(
        client,
        collection_id,
        [{"fieldData": row.fields} for row in usable],
        mapper,
        options,
        default_draft=settings.create_as_draft,
        progress=bar,
        held_back=[{"fieldData": row.fields} for row in rows if row.error is not None],
    )
    bar.finish()
    _summary(out, rows, usable, outcome, time.monotonic() - started, store)
    failed = outcome.failed + sum(1 for row in rows if row.error)
    return 1 if failed else 0


def create_missing_references(
    client: WebflowClient, schema: Collection, mapper: FieldMapper, rows: Sequence[Row]
) -> int:
    """Create, by name, the referenced items the rows name that do not exist yet (one bulk
    create per referenced collection); how many were created."""
    from shared.cms.fields import FieldMapper
    from shared.cms.items import ReferenceLookup, create_items

    lookup = ReferenceLookup(client)
    created = 0
    for referenced, names in _referenced_names(schema, mapper, rows).items():
        found = lookup(referenced, list(names))
        missing = [name for name in names if name not in found]
        if missing:
            outcome = create_items(
                client,
                referenced,
                [{"fieldData": {"name": name}} for name in missing],
                FieldMapper(),
                default_draft=False,
                live=False,
            )
            created += outcome.count("created")
    return created


def _referenced_names(
    schema: Collection, mapper: FieldMapper, rows: Sequence[Row]
) -> dict[str, dict[str, None]]:
    """{referenced collection id: the names (not ids) the rows give, in order}."""
    from shared.cms.fields import is_item_id

    targets: dict[str, str] = {}  # column -> referenced collection
    for column in {column for row in rows for column in row.fields}:
        slug = mapper.target_slug(column, schema)
        target = schema.field(slug) if slug else None
        if target is not None and target.type in ("Reference", "MultiReference"):
            targets[column] = str((target.validations or {}).get("collectionId") or "")
    wanted: dict[str, dict[str, None]] = {}
    for row in rows:
        for column, referenced in targets.items():
            value = row.fields.get(column)
            values = value if isinstance(value, list) else str(value or "").split(",")
            for entry in values:
                text = str(entry.get("name", "") if isinstance(entry, dict) else entry).strip()
                if referenced and text and not is_item_id(text):
                    wanted.setdefault(referenced, {})[text] = None
    return wanted


def _without_files(rows: Sequence[Row], schema: Collection, mapper: FieldMapper) -> None:
    """Without a site, files cannot be looked up: their columns are left out of a plan."""
    for row in rows:
        for column in list(row.fields):
            slug = mapper.target_slug(column, schema)
            target = schema.field(slug) if slug else None
            if target is not None and target.type in ("Image", "MultiImage", "File"):
                row.fields.pop(column)


def _listed(out: TextIO, title: str, lines: Sequence[str], most: int = 50) -> None:
    """A titled list of at most ``most`` lines, and how many more there were."""
    if not lines:
        return
    out.write(f"\n{title}:\n" + "".join(f"  {line}\n" for line in lines[:most]))
    if len(lines) > most:
        out.write(f"  ... and {len(lines) - most:,} more\n")


def _row_lines(
    rows: Sequence[Row], usable: Sequence[Row], outcome: SyncOutcome
) -> tuple[list[str], list[str]]:
    """(what failed, what a dry run would change), one line each, by row number."""
    problems = [f"row {row.number}: {row.error}" for row in rows if row.error]
    if outcome.publish_error is not None:
        problems.append(f"publish: {outcome.publish_error.message}")
    changes = []
    for result in outcome.results:
        number = usable[result.index].number
        if result.status == "failed" and result.error is not None:
            details = "; ".join(
                f"column {d.get('field')}: {d.get('message')}" for d in result.error.details
            )
            problems.append(f"row {number}: {details or result.error.message}")
        elif outcome.dry_run and result.status in ("created", "updated"):
            what = ", ".join(result.changed) if result.status == "updated" else "new"
            changes.append(f"row {number} ({result.key}): {result.status} ({what})")
    return problems, changes


def _summary(
    out: TextIO,
    rows: Sequence[Row],
    usable: Sequence[Row],
    outcome: SyncOutcome,
    seconds: float,
    store: AssetStore | None,
) -> None:
    row_errors = [row for row in rows if row.error]
    counts = [
        ("created", outcome.count("created")),
        ("updated", outcome.count("updated")),
        ("unchanged", outcome.count("unchanged")),
        ("failed", outcome.count("failed") + len(row_errors)),
        (f"missing ({outcome.missing_policy})", len(outcome.missing)),
    ]
    if store is not None:
        uploaded = "assets to upload" if outcome.dry_run else "assets uploaded"
        counts += [(uploaded, store.uploaded), ("assets reused", store.reused)]
    title = "plan (dry run: nothing written)" if outcome.dry_run else "summary"
    out.write(f"\n{title}, {len(rows):,} rows in {seconds:.1f}s\n")
    width = max(len(name) for name, _ in counts)
    out.writelines(f"  {name.ljust(width)}  {value:>8,}\n" for name, value in counts)
    if outcome.missing_skipped:
        out.write(f"\nmissing items kept: {outcome.missing_skipped}\n")
    problems, changes = _row_lines(rows, usable, outcome)
    _listed(out, "changes", changes)
    _listed(out, "failed", problems)


def command_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """A collection to a file, as ``sync`` reads it back (webflow_cli/export.py)."""
    from webflow_cli.export import Exporter, read_all, write_export

    client, _settings = _client(args)
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
        count = write_export(out, fmt, exporter.columns, rows, exporter.joiners)
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = write_export(handle, fmt, exporter.columns, rows, exporter.joiners)
    err.write(f"exported {count:,} items" + (f" to {output}" if output else "") + "\n")
    return 0


def command_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client, _settings = _client(args)
    schema = client.get_collection(args.collection)
    if args.field_map is not None:
        table = {f.display_name or f.slug: f.slug for f in schema.fields if f.slug != "slug"}
        out.write(json.dumps({args.field_map or "*": table}, indent=2) + "\n")
        return 0
    rows = [("slug", "type", "required", "display name", "options")]
    for schema_field in schema.fields:
        choices = (schema_field.validations or {}).get("options") or []
        names = ", ".join(str(o.get("name")) for o in choices if isinstance(o, dict))
        rows.append(
            (
                schema_field.slug,
                schema_field.type,
                "yes" if schema_field.is_required else "",
                schema_field.display_name or "",
                names,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    out.write(f"{schema.display_name or schema.id} ({schema.id})\n")
    for row in rows:
        out.write("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        out.write("\n")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="webflow-functions",
        description="Keep a Webflow CMS collection in step with a file. Settings from the "
        "environment: WEBFLOW_API_TOKEN, WEBFLOW_API_BASE_URL, WEBFLOW_SITE_ID.",
    )
    commands = root.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="create or update a collection's items from a file")
    sync.add_argument(
        "file",
        nargs="*",
        help="CSV (header row), JSON (array) or JSON Lines; several as FILE=COLLECTION (or named "
        "after their collections), synced referenced collections first",
    )
    sync.add_argument("--collection", help="the collection id (one file)")
    sync.add_argument(
        "--manifest",
        metavar="JSON",
        help='files to sync: {"files": [{"file", "collection", "key"?}]} (paths relative to it)',
    )
    sync.add_argument(
        "--create-missing",
        action="store_true",
        help="create, by name, the referenced items a row names that do not exist yet",
    )
    sync.add_argument("--key", default="slug", help="the field that identifies a row (slug)")
    sync.add_argument("--format", choices=("csv", "json", "jsonl"), help="else from the extension")
    sync.add_argument("--map", help='columns to field slugs: \'{"Column": "slug"}\', or @file.json')
    sync.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sync.add_argument("--publish", action="store_true", help="publish what was written")
    sync.add_argument(
        "--complete", action="store_true", help="the file holds every item of the collection"
    )
    sync.add_argument(
        "--missing",
        choices=("keep", "archive", "delete"),
        default="keep",
        help="with --complete: what becomes of items absent from the file",
    )
    sync.add_argument(
        "--empty",
        choices=("clear", "keep"),
        default="clear",
        help="an empty cell clears the field of an existing item (clear), or leaves it (keep)",
    )
    sync.add_argument("--locale", help="cmsLocaleId of the items to sync")
    sync.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="fetch file URLs from HOST although it is not public (repeatable); others must be",
    )
    export = commands.add_parser(
        "export", help="write a collection to CSV, JSON or JSON Lines (sync reads it back)"
    )
    export.add_argument("collection", help="the collection id")
    export.add_argument("--format", choices=("csv", "json", "jsonl"), help="else from --output")
    export.add_argument("--output", "-o", help="the file to write (default: standard output)")
    export.add_argument(
        "--download", metavar="DIR", help="save images and files in DIR and write their paths"
    )
    export.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="with --download: fetch from HOST although it is not public (repeatable)",
    )
    export.set_defaults(map=None)
    schema = commands.add_parser("schema", help="print a collection's fields")
    schema.add_argument("collection", help="the collection id")
    schema.add_argument(
        "--field-map",
        nargs="?",
        const="*",
        metavar="FORM",
        help="print a FIELD_MAP skeleton (for FORM, else every form)",
    )
    schema.set_defaults(map=None)
    commands.add_parser(
        "intake",
        help="the intake queue: status, failed, spam, replay, release, drain (--help for each)",
        add_help=False,
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["intake"]:
        from shared.intake.drain import main as intake_main

        return intake_main(given[1:])
    args = parser().parse_args(given)
    out, err = sys.stdout, sys.stderr
    commands: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
        "sync": command_sync,
        "schema": command_schema,
        "export": command_export,
    }
    from shared.core.config import ConfigError
    from shared.core.problems import Problem

    try:
        # The JSON logs go to stderr, beside the progress; stdout holds the summary.
        import contextlib

        with contextlib.redirect_stdout(err):
            return commands[args.command](args, out, err)
    except UsageError as exc:
        err.write(f"webflow-functions: {exc}\n")
        return 2
    except ConfigError as exc:
        err.write(f"webflow-functions: configuration: {exc}\n")
        return 2
    except Problem as exc:
        details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in exc.details)
        err.write(f"webflow-functions: {exc.message}" + (f" ({details})" if details else "") + "\n")
        return 2
    except WebflowError as exc:
        err.write(f"webflow-functions: Webflow: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
