"""The one progress-bar layout of every long-running command: task, bar, n/N, info, elapsed, ETA.

:class:`BarProgress` renders the library's one progress protocol (:class:`latency.progress.Progress`)
on such a bar: one bar per task name, stages as rules. (The protocol is structural: nothing from latency
is imported here, so every command still starts without loading the LUT code.)
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
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


class BarProgress:
    """A :class:`latency.progress.Progress` drawn on ``bar`` (from :func:`progress_bar`): each task name
    gets its own bar (description cut to ``desc_width``, info to ``info_width``); stages are rules."""

    def __init__(
        self, bar: Progress, console: Console, desc_width: int | None = 48, info_width: int = 48
    ) -> None:
        self.bar, self.console = bar, console
        self.desc_width, self.info_width = desc_width, info_width
        self.tasks: dict[str, TaskID] = {}

    def stage(self, name: str) -> None:
        self.console.rule(f"[bold]{name}")

    def update(self, task: str, done: int, total: int, info: str = "") -> None:
        if task not in self.tasks:
            self.tasks[task] = self.bar.add_task(task[: self.desc_width], total=total, info="")
        self.bar.update(self.tasks[task], completed=done, total=total, info=info[: self.info_width])
