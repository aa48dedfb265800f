"""`webflow-functions sync`: one file into a collection, or several in the order their references need; files uploaded, rows upserted by key, a summary."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from webflow_cli.console import Screen
from webflow_cli.errors import UsageError
from webflow_cli.files import AssetStore, attach_files
from webflow_cli.rows import Row, read_rows
from webflow_cli.settings import client_and_settings

if TYPE_CHECKING:
    from shared.cms.fields import FieldMapper
    from shared.cms.settings import MappingSettings
    from shared.cms.sync import SyncOutcome
    from shared.webflow import WebflowClient
    from shared.webflow.models import Collection

__all__ = ["Planned", "command_sync", "create_missing_references"]


def command_sync(args: argparse.Namespace, screen: Screen) -> int:
    """One file into ``--collection``, or several, each into the collection it names, in the
    order their references need (referenced collections first)."""
    client, settings = client_and_settings(args)
    plan = _plan(args, client, settings.webflow_site_id)
    status = 0
    for path, collection_id, key in plan:
        if len(plan) > 1:
            screen.say(f"\n== {path} -> collection {collection_id}")
        status = max(status, _sync_file(args, client, settings, (path, collection_id, key), screen))
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
    settings: MappingSettings,
    planned: Planned,
    screen: Screen,
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
            screen.say(f"created {created:,} referenced items that were missing")
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
    bar = screen.progress(settings.webflow_rate_limit_per_minute)
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
    _summary(screen, rows, usable, outcome, time.monotonic() - started, store)
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
    screen: Screen,
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
    screen.counts(f"{title}, {len(rows):,} rows in {seconds:.1f}s", counts)
    if outcome.missing_skipped:
        screen.say(f"\nmissing items kept: {outcome.missing_skipped}")
    problems, changes = _row_lines(rows, usable, outcome)
    screen.listed("changes", changes)
    screen.listed("failed", problems)
