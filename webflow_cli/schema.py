"""``webflow-functions schema``: a collection's fields, or a FIELD_MAP skeleton for a form."""

from __future__ import annotations

import argparse
import json

from webflow_cli.console import Screen
from webflow_cli.settings import client_and_settings

__all__ = ["command_schema"]

HEADER = ("slug", "type", "required", "display name", "options")


def command_schema(args: argparse.Namespace, screen: Screen) -> int:
    """The collection's fields as a table, or with ``--field-map`` a FIELD_MAP skeleton (JSON)."""
    client, _settings = client_and_settings(args)
    schema = client.get_collection(args.collection)
    if args.field_map is not None:
        table = {f.display_name or f.slug: f.slug for f in schema.fields if f.slug != "slug"}
        screen.out.write(json.dumps({args.field_map or "*": table}, indent=2) + "\n")
        return 0
    rows = []
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
    screen.table(f"{schema.display_name or schema.id} ({schema.id})", HEADER, rows)
    return 0
