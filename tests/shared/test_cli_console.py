"""What the command shows: rich on a terminal, the same plain lines every time otherwise."""

from __future__ import annotations

import io
import re

import pytest

from webflow_cli.console import Screen, duration

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen(terminal: bool) -> tuple[Screen, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Screen(out, err, out_terminal=terminal, err_terminal=terminal), out, err


def test_a_stream_that_is_not_a_terminal_gets_plain_lines_without_escapes() -> None:
    screen, out, err = _screen(terminal=False)

    screen.counts("summary, 3 rows in 0.2s", [("created", 2), ("failed", 1)])
    screen.table("Posts (c1)", ("slug", "type"), [("name", "PlainText"), ("[b]x", "Link")])
    screen.listed("failed", [f"row {n}: bad" for n in range(1, 53)])
    screen.error("row 2: [not markup] is wrong")

    assert out.getvalue() == (
        "\nsummary, 3 rows in 0.2s\n"
        "  created         2\n"
        "  failed          1\n"
        "Posts (c1)\n"
        "  slug  type\n"
        "  name  PlainText\n"
        "  [b]x  Link\n"
        "\nfailed:\n" + "".join(f"  row {n}: bad\n" for n in range(1, 51)) + "  ... and 2 more\n"
    )
    assert err.getvalue() == "webflow-functions: row 2: [not markup] is wrong\n"


def test_a_terminal_gets_rich_tables_and_a_coloured_error_with_the_text_intact() -> None:
    screen, out, err = _screen(terminal=True)

    screen.counts("summary, 3 rows in 0.2s", [("created", 2), ("failed", 1)])
    screen.table("Posts (c1)", ("slug", "type"), [("[b]x", "Link")])
    screen.error("row 2: [not markup] is wrong")

    shown = ANSI.sub("", out.getvalue())
    assert ANSI.search(out.getvalue())  # drawn, not plain
    assert re.search(r"created\s+2", shown)
    assert re.search(r"failed\s+1", shown)
    assert "┃ slug" in shown
    assert "[b]x" in shown
    assert ANSI.search(err.getvalue())
    assert ANSI.sub("", err.getvalue()).strip() == "webflow-functions: row 2: [not markup] is wrong"


def test_plain_progress_prints_one_line_per_stage_and_tenth_with_an_eta_at_the_rate() -> None:
    screen, _, err = _screen(terminal=False)
    progress = screen.progress(rate_per_minute=60)

    for done in range(0, 1001, 50):
        progress("create", done, 1000)
    progress.finish()

    lines = err.getvalue().splitlines()
    assert len(lines) == 11  # 0, 100, ..., 1000: each tenth once
    assert lines[0].startswith("creating: 0/1,000 (0%) · ")
    assert lines[0].endswith("ETA 10s at 60/min")  # 10 requests of 100 at 60 a minute
    assert lines[-1].startswith("creating: 1,000/1,000 (100%) · ")
    assert lines[5].startswith("creating: 500/1,000 (50%) · ")
    assert "ETA" not in lines[-1]


def test_terminal_progress_draws_a_rich_bar_per_stage() -> None:
    screen, _, err = _screen(terminal=True)
    progress = screen.progress(rate_per_minute=30)

    progress("read", 200, None)
    progress("update", 100, 400)
    progress.finish()

    shown = ANSI.sub("", err.getvalue())
    assert "reading the collection" in shown
    assert "updating" in shown
    assert "100/400" in shown
    assert "ETA 6s at 30/min" in shown  # 3 requests left at 30 a minute
    assert "━" in shown  # rich's bar, not the plain one
    assert "(25%)" not in shown  # not the plain lines


@pytest.mark.parametrize(("seconds", "told"), [(0.2, "0s"), (42, "42s"), (187, "3m07s")])
def test_durations_read_as_minutes_and_seconds(seconds: float, told: str) -> None:
    assert duration(seconds) == told
