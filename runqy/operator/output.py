"""What the operator commands print: aligned tables that fit the terminal, key/value detail
blocks, stable JSON (`-o json`), times shown both absolute and relative, and the one-line
notices and errors on stderr."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

TABLE = "table"
JSON = "json"
FORMATS = (TABLE, JSON)


UNFOLDED = 1000  # width when writing to a pipe without COLUMNS: rows stay whole for grep/awk


def console(stderr: bool = False) -> Console:
    """A console as wide as the terminal (COLUMNS when set), colour only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = shutil.get_terminal_size((UNFOLDED, 24)).columns
    return Console(file=stream, width=width, highlight=False, soft_wrap=False, emoji=False,
                   markup=False)


def print_json(value: Any) -> None:
    """Indented, key order as the API gives it, UTF-8 kept: one document per command."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def parse_time(value: Any) -> datetime | None:
    """An API time (RFC 3339 with Z, or unix seconds) as an aware datetime; None when unset."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def relative(moment: datetime, now: datetime | None = None) -> str:
    """`12s ago`, `3m ago`, `in 2h`, `5d ago`."""
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    span = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    else:
        amount = f"{span}s"
    return f"{amount} ago" if seconds >= 0 else f"in {amount}"


def when(value: Any) -> str:
    """`2026-12-06 22:33:49Z (3m ago)`, or `-` when unset."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    return f"{moment.strftime('%Y-%m-%d %H:%M:%SZ')} ({relative(moment)})"


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def short(value: Any, limit: int = 60) -> str:
    text = cell(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> None:
    """Columns aligned like the Go CLI's tabwriter, folded to the terminal's width."""
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold",
                  padding=(0, 2, 0, 0))
    for header in headers:
        table.add_column(header, overflow="fold", min_width=len(header))
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    out = console()
    with out.capture() as captured:
        out.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """`Label:  value` lines, labels aligned."""
    pairs = list(pairs)
    width = max(len(label) for label, _ in pairs) + 2
    out = console()
    for label, value in pairs:
        out.print(f"{label + ':':<{width}}{cell(value)}")


def notice(message: str) -> None:
    """One line on stderr that is not an error (local mode, progress in a log)."""
    click.echo(message, err=True)
