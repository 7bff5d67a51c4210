"""The one progress protocol (latency.progress) and its rich renderer (phonenas.cli.progress.BarProgress)."""

from __future__ import annotations

import io

from rich.console import Console

from latency.progress import Progress, SilentProgress
from phonenas.cli.progress import BarProgress, progress_bar


def test_bar_progress_keeps_one_bar_per_task_and_cuts_long_text() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    with progress_bar(console) as bar:
        shown: Progress = BarProgress(bar, console, desc_width=10, info_width=5)
        shown.stage("LUT stage")
        shown.update("a-very-long-task-name", 1, 4, "info-that-is-long")
        shown.update("a-very-long-task-name", 3, 4)
        shown.update("other", 2, 2, "x")
        tasks = {t.description: t for t in bar.tasks}
    assert set(tasks) == {"a-very-lon", "other"}
    long = tasks["a-very-lon"]
    assert (long.completed, long.total, long.fields["info"]) == (3, 4, "")
    assert (tasks["other"].completed, tasks["other"].fields["info"]) == (2, "x")
    assert "LUT stage" in console.file.getvalue()


def test_bar_progress_update_is_a_task_done_total_callback() -> None:
    console = Console(file=io.StringIO(), width=200)
    with progress_bar(console) as bar:
        on_progress = BarProgress(bar, console, desc_width=None).update  # what `lut validate` passes
        on_progress("export models", 1, 3)
        on_progress("export models", 3, 3)
        (task,) = bar.tasks
    assert (task.description, task.completed, task.total) == ("export models", 3, 3)


def test_silent_progress_ignores_everything() -> None:
    silent: Progress = SilentProgress()
    assert silent.stage("x") is None and silent.update("t", 1, 2, "i") is None
