"""Rich progress bars for transfers, on stderr so that stdout stays data."""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def console() -> Console:
    """stderr; `HOPS_PROGRESS=always` draws the bars even when stderr is not a terminal (a
    CI log, a test capturing it), where Rich would otherwise print only the final state."""
    forced = os.environ.get("HOPS_PROGRESS", "").lower() == "always"
    return Console(stderr=True, force_terminal=True if forced else None)


def transfer_progress(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}", justify="left"),
        BarColumn(),
        "[progress.percentage]{task.percentage:>3.0f}%",
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console(),
        disable=not enabled,
        refresh_per_second=5,
    )


__all__ = ["TaskID", "console", "transfer_progress"]
