"""The one progress-bar layout of every long-running command: task, bar, n/N, info, elapsed, ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phonenas.console import capturing


def progress_bar(console: Console) -> Progress:
    """A rich Progress whose tasks carry an ``info`` field (current item, last result)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        # under phonenas.console.quiet_console, sys.stdout/stderr carry other libraries' output to the log
        redirect_stdout=capturing() is None,
        redirect_stderr=capturing() is None,
    )
