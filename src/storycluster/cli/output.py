"""Printing records on stdout: JSON lines for programs, aligned tables for people."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import click


def print_records(
    records: Sequence[Mapping[str, Any]],
    output_format: str,
    *,
    columns: Sequence[str] | None = None,
    vertical: bool = False,
) -> None:
    """Print ``records`` as JSON lines (``jsonl``) or as a table (``table``) on stdout."""
    if output_format == "jsonl":
        for record in records:  # lone surrogates (undecodable bytes from a shell) print as U+FFFD
            click.echo(json.dumps(record, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8"))
        return
    if vertical:
        for record in records:
            width = max(map(len, record), default=0)
            for key, value in record.items():
                click.echo(f"{key:<{width}}  {_cell(value)}")
        return
    click.echo(format_table(records, columns or (list(records[0]) if records else [])))


def format_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of ``columns``; the last column is cut to fit the terminal width."""
    rows = [[_cell(record.get(column)) for column in columns] for record in records]
    widths = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in enumerate(columns)]
    total = shutil.get_terminal_size((160, 24)).columns
    fixed = sum(widths[:-1]) + 2 * (len(columns) - 1)
    widths[-1] = max(len(columns[-1]), min(widths[-1], total - fixed))
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for row in rows:
        cells = [cell if len(cell) <= w else cell[: max(w - 1, 0)] + "…" for cell, w in zip(row, widths)]
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return " ".join(str(value).split())
