"""What the command shows. On a terminal: a rich progress bar with an ETA that counts the rate
limit, tables and errors in colour. Otherwise (a file, a pipe, CI): plain lines, the same ones
every time, for scripts and logs to read. Results go to standard output; progress and errors to
standard error, beside the JSON logs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["Screen", "SyncProgress"]

PROGRAM = "webflow-functions"
REQUEST_ITEMS = 100  # items a bulk request carries: what the ETA counts in
_STAGES = {"read": "reading the collection", "create": "creating", "update": "updating"}


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Screen:
    """Standard output and standard error, each drawn with rich when it is a terminal."""

    out: TextIO
    err: TextIO
    out_terminal: bool | None = None
    err_terminal: bool | None = None

    def __post_init__(self) -> None:
        if self.out_terminal is None:
            self.out_terminal = _is_terminal(self.out)
        if self.err_terminal is None:
            self.err_terminal = _is_terminal(self.err)
        self.rich_out = self._console(self.out) if self.out_terminal else None
        self.rich_err = self._console(self.err) if self.err_terminal else None

    @staticmethod
    def _console(stream: TextIO) -> Console:
        return Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)

    def say(self, text: str) -> None:
        """One line of results (standard output), as it is."""
        if self.rich_out is not None:
            self.rich_out.print(text, markup=False)
        else:
            self.out.write(text + "\n")

    def note(self, text: str) -> None:
        """One line about the run (standard error)."""
        if self.rich_err is not None:
            self.rich_err.print(text, markup=False, style="dim")
        else:
            self.err.write(text + "\n")

    def error(self, message: str) -> None:
        """``webflow-functions: message`` on standard error, the program's name in red."""
        if self.rich_err is not None:
            self.rich_err.print(f"[bold red]{PROGRAM}:[/] {escape(message)}")
        else:
            self.err.write(f"{PROGRAM}: {message}\n")

    def counts(self, title: str, rows: Sequence[tuple[str, int]]) -> None:
        """A titled two-column table of counts."""
        if self.rich_out is not None:
            table = Table(title=title, title_justify="left", show_header=False, box=None)
            table.add_column(style="bold")
            table.add_column(justify="right")
            for name, value in rows:
                table.add_row(escape(name), f"{value:,}")
            self.rich_out.print()
            self.rich_out.print(table)
            return
        self.out.write(f"\n{title}\n")
        width = max(len(name) for name, _ in rows)
        self.out.writelines(f"  {name.ljust(width)}  {value:>8,}\n" for name, value in rows)

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A titled table with a header row; columns aligned in plain text."""
        if self.rich_out is not None:
            table = Table(title=title, title_justify="left", header_style="bold")
            for name in header:
                table.add_column(escape(name))
            for row in rows:
                table.add_row(*(escape(cell) for cell in row))
            self.rich_out.print(table)
            return
        lines = [tuple(header), *(tuple(row) for row in rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        self.out.write(f"{title}\n")
        for line in lines:
            cells = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line))
            self.out.write("  " + cells.rstrip() + "\n")

    def listed(self, title: str, lines: Sequence[str], most: int = 50) -> None:
        """A titled list of at most ``most`` lines, and how many more there were."""
        if not lines:
            return
        shown = [f"  {line}" for line in lines[:most]]
        if len(lines) > most:
            shown.append(f"  ... and {len(lines) - most:,} more")
        self.say(f"\n{title}:")
        for line in shown:
            self.say(line)

    def progress(self, rate_per_minute: int) -> SyncProgress:
        """The progress of a sync, drawn on standard error."""
        return SyncProgress(self, rate_per_minute)


@dataclass
class SyncProgress:
    """The sync's progress callback: a rich bar per stage on a terminal; otherwise one plain line
    per stage and per tenth of it. The ETA counts the requests left at the rate limit."""

    screen: Screen
    rate_per_minute: int
    started: float = field(default_factory=time.monotonic)
    _last: tuple[str, int] = ("", -1)
    _bar: Progress | None = None
    _tasks: dict[str, TaskID] = field(default_factory=dict)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self.screen.rich_err is not None:
            self._draw(stage, done, total)
            return
        tenth = int(10 * done / total) if total else 0
        if (stage, tenth) != self._last:
            self._last = (stage, tenth)
            self.screen.err.write(self.line(stage, done, total) + "\n")
            self.screen.err.flush()

    def eta(self, done: int, total: int | None) -> float:
        """Seconds the remaining requests take at the rate limit."""
        if not total:
            return 0.0
        requests = math.ceil(max(0, total - done) / REQUEST_ITEMS)
        return requests * 60.0 / max(1, self.rate_per_minute)

    def line(self, stage: str, done: int, total: int | None) -> str:
        """The plain line: the count (and share), the time taken and the ETA."""
        text = f"{_STAGES.get(stage, stage)}: {done:,}"
        if total:
            text += f"/{total:,} ({100 * done // max(1, total)}%)"
        text += f" · {time.monotonic() - self.started:.0f}s"
        eta = self.eta(done, total)
        if eta:
            text += f" · ETA {duration(eta)} at {self.rate_per_minute}/min"
        return text

    def _draw(self, stage: str, done: int, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[eta]}"),
                console=self.screen.rich_err,
                transient=False,
            )
            self._bar.start()
        eta = self.eta(done, total)
        told = f"ETA {duration(eta)} at {self.rate_per_minute}/min" if eta else ""
        task = self._tasks.get(stage)
        if task is None:
            task = self._tasks[stage] = self._bar.add_task(
                _STAGES.get(stage, stage), total=total, eta=told
            )
        self._bar.update(task, completed=done, total=total, eta=told)

    def finish(self) -> None:
        """Stop drawing (the bar stays on the screen as it ended)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def duration(seconds: float) -> str:
    """``42s`` or ``3m07s``."""
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
