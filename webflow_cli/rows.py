"""The rows of a data file: CSV (a header row), JSON (an array, or {"items": [...]}) or JSON Lines, each with the line or index it came from."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webflow_cli.errors import UsageError

__all__ = ["Row", "read_rows"]


@dataclass
class Row:
    """One input record and where it came from (a CSV or JSON Lines line, a JSON index)."""

    number: int
    fields: dict[str, Any]
    error: str | None = None


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
