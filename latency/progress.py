"""The one progress protocol: what PhoneNAS's long-running calls tell their caller.

A :class:`Progress` receives ``stage(name)`` when a named stage starts and ``update(task, done, total,
info)`` as a task advances. It is a structural protocol (renderers need not import it);
:class:`SilentProgress` ignores everything and is what library calls default to. The CLI renders it
with rich (``phonenas.cli.progress.BarProgress``: the demo pipeline, ``lut collect``, ``lut
validate``), benchmarks print it. Callbacks shaped ``(task, done, total)`` (such as
:func:`latency.validate.validate`'s ``on_progress``) take a Progress's bound ``update`` as they are.

Collection reports one :class:`BlockProgress` per block event (which key, exported / timed / measured /
failed, its median) to its ``on_progress`` callback; callers turn it into ``update`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from latency.keys import BlockKey

__all__ = ["BlockProgress", "Progress", "SilentProgress"]


class Progress(Protocol):
    """Progress sink: ``stage`` starts a named stage, ``update`` advances the task named ``task``."""

    def stage(self, name: str) -> None: ...

    def update(self, task: str, done: int, total: int, info: str = "") -> None: ...


class SilentProgress:
    """A :class:`Progress` that ignores everything; subclass it to render only what you need."""

    def stage(self, name: str) -> None:
        pass

    def update(self, task: str, done: int, total: int, info: str = "") -> None:
        pass


@dataclass(frozen=True)
class BlockProgress:
    """One block event of :func:`latency.collect.collect`: ``done`` of ``total`` steps of ``phase``."""

    done: int
    total: int
    key: BlockKey
    # "exported" | "timed" (a round before the last) | "measured" | "failed" | "unstable" | "contended"
    status: str
    median_ms: float | None = None
    phase: str = "measure"  # "export" | "measure"
