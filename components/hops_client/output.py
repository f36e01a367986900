"""Listings as a table for people, or as JSON (`--json`) for programs: stdout is data."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def field(name: str) -> Column:
    return (name, lambda row: row.get(name))


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[Column], as_json: bool) -> None:
    if as_json:
        print(json.dumps(list(rows), indent=2, default=str))
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for title, _ in columns:
        table.add_column(title.upper(), overflow="fold")
    for row in rows:
        table.add_row(*("" if (v := get(row)) is None else str(v) for _, get in columns))
    Console(soft_wrap=False).print(table)


def emit_one(row: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(row, indent=2, default=str) if as_json else text)
