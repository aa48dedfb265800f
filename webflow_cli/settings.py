"""The command's settings: the Webflow ones and the field mapping (`--map` over FIELD_MAP)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webflow_cli.errors import UsageError

if TYPE_CHECKING:
    from shared.cms.settings import MappingSettings
    from shared.webflow import WebflowClient

__all__ = ["client_and_settings"]


def client_and_settings(args: argparse.Namespace) -> tuple[WebflowClient, MappingSettings]:
    """The process's client and the settings the command reads (``--map`` over FIELD_MAP).

    Raises:
        ConfigError: naming a missing or malformed variable.
        UsageError: ``--map`` is not a JSON object of column names to field slugs.
    """
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
