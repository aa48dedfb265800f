"""``webflow-functions``: the sync, export, schema and intake commands, against Webflow or the
sandbox (webflow_cli/sync.py, export.py, schema.py; the intake's are shared/intake/drain.py's).

``webflow-functions sync FILE --collection ID [--key FIELD]`` reads CSV, JSON or JSON Lines,
maps columns to fields (by slug or display name, or ``--map``), uploads image and file columns
given as local paths or http(s) URLs as assets (each tagged with its MD5 in its file name, so a
rerun finds it and uploads nothing again), and upserts the rows (shared/cms/sync.py): created,
updated (only the changed fields), unchanged, failed per row. A progress bar with an ETA that
counts the rate limit on a terminal, plain lines otherwise (webflow_cli/console.py), a summary at
the end; exit status 1 when a row failed, 2 when the command's input or configuration is wrong. ``webflow-functions schema ID`` prints a collection's fields, or with
``--field-map`` a FIELD_MAP skeleton for a form.

Settings come from the environment as for the functions: ``WEBFLOW_API_TOKEN`` (never a
command-line argument: it would show in the process list and the shell's history),
``WEBFLOW_API_BASE_URL`` (the sandbox's, locally), ``WEBFLOW_SITE_ID`` (for asset uploads),
``WEBFLOW_RATE_LIMIT_PER_MINUTE``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence

from shared.webflow.errors import WebflowError
from webflow_cli.console import Screen
from webflow_cli.errors import UsageError
from webflow_cli.export import command_export
from webflow_cli.schema import command_schema
from webflow_cli.sync import command_sync

__all__ = ["main", "parser"]


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
    screen = Screen(sys.stdout, sys.stderr)
    commands: dict[str, Callable[[argparse.Namespace, Screen], int]] = {
        "sync": command_sync,
        "schema": command_schema,
        "export": command_export,
    }
    from shared.core.config import ConfigError
    from shared.core.problems import Problem

    try:
        # The JSON logs go to stderr, beside the progress; stdout holds the results.
        with contextlib.redirect_stdout(screen.err):
            return commands[args.command](args, screen)
    except UsageError as exc:
        screen.error(str(exc))
        return 2
    except ConfigError as exc:
        screen.error(f"configuration: {exc}")
        return 2
    except Problem as exc:
        details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in exc.details)
        screen.error(exc.message + (f" ({details})" if details else ""))
        return 2
    except WebflowError as exc:
        screen.error(f"Webflow: {exc}")
        return 1
