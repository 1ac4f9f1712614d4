"""What the tasks print, through `rich`: messages, tables, met/missed marks, errors and a spinner for long phases.

Rich leaves out colours and animation when `NO_COLOR` is set or the output is not a terminal, so piped output stays
plain text. Messages never wrap or interpret `[...]` as markup: a URL or a JSON document is printed as it is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Text", "console", "error", "errors", "mark", "phase", "report", "say", "table", "warn"]

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """One message on stdout, exactly as given."""
    console.print(message, markup=False, soft_wrap=True)


def note(message: str) -> None:
    """A hint beside the results, on stderr (dim on a terminal), so stdout keeps only the results."""
    errors.print(Text(message, style="dim"), soft_wrap=True)


def warn(message: str) -> None:
    errors.print(Text(message, style="yellow"), soft_wrap=True)


def error(message: str) -> None:
    """One failure the user can act on, on stderr (red on a terminal)."""
    errors.print(Text(message, style="bold red"), soft_wrap=True)


def mark(met: bool) -> Text:
    """`met` or `missed`, green or red: how a measured figure compares with its target."""
    return Text("met", style="green") if met else Text("missed", style="bold red")


def report(text: str) -> None:
    """A measured report, its verdicts coloured: `met` green, `MISSED`/`missed` and `lost` red."""
    coloured = Text(text)
    coloured.highlight_regex(r"\bmet\b", "green")
    coloured.highlight_regex(r"\b(MISSED|missed|FAILED)\b", "bold red")
    console.print(coloured, soft_wrap=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[str | Text]], *, title: str | None = None) -> None:
    """Rows under column headings: on a terminal laid out by rich (long values fold, never cut), otherwise plain
    text aligned with spaces, one row a line, whatever the width (for grep and scripts)."""
    if console.is_terminal:
        grid = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            grid.add_column(column, overflow="fold")
        for row in rows:
            grid.add_row(*row)
        console.print(grid)
        return
    if title:
        say(title)
    cells = [[str(cell) for cell in row] for row in [columns, *rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(columns))]
    for row in cells:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@contextmanager
def phase(message: str) -> Iterator[None]:
    """A step that may take a while: a spinner beside `message` on a terminal, the message alone otherwise,
    then how long it took; on stderr, so that stdout keeps only the results. Use it around steps that can take
    over 2 s (starting, deploying, a test run); what the step prints meanwhile appears above the spinner."""
    started = time.monotonic()
    if errors.is_terminal:
        with errors.status(Text(message), spinner="dots"):
            yield
    else:
        errors.print(f"{message} ...", markup=False, soft_wrap=True)
        yield
    errors.print(
        Text.assemble(("✓ ", "green"), f"{message} ({time.monotonic() - started:.1f} s)"), soft_wrap=True
    )
