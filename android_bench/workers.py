"""One worker thread per device, with fault isolation, feeding one result sink.

``run_workers(devices, items, fn, on_result)`` runs ``fn(device, item)`` for every item on every
device (each phone gets its own LUT rows), one thread per device. ``on_result`` is called under a
lock, so the caller's store sees one writer. A failing item is recorded and the worker moves on; a
device that keeps disconnecting is abandoned and its remaining items are reported as skipped, while
the other devices continue.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from android_bench.device import Device
from android_bench.errors import DeviceDisconnected, DeviceError

__all__ = ["ItemFailure", "WorkerReport", "run_workers"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ItemFailure(Generic[T]):
    device_id: str
    item: T
    error_type: str
    message: str


@dataclass
class WorkerReport(Generic[T]):
    completed: list[tuple[str, T]] = field(default_factory=list)
    failures: list[ItemFailure[T]] = field(default_factory=list)
    skipped: list[tuple[str, T]] = field(default_factory=list)
    abandoned: dict[str, str] = field(default_factory=dict)  # device id -> reason

    @property
    def ok(self) -> bool:
        return not self.failures and not self.skipped and not self.abandoned

    def summary(self) -> str:
        return (
            f"{len(self.completed)} measured, {len(self.failures)} failed, {len(self.skipped)} skipped, "
            f"{len(self.abandoned)} device(s) abandoned"
        )


def run_workers(
    devices: Sequence[Device],
    items: Sequence[T] | Callable[[Device], Iterable[T]],
    fn: Callable[[Device, T], R],
    on_result: Callable[[Device, T, R], None] | None = None,
    *,
    max_consecutive_disconnects: int = 2,
    stop: threading.Event | None = None,
) -> WorkerReport[T]:
    """Run ``fn`` over ``items`` on every device in parallel (one thread per device).

    ``items`` may be a callable returning the work for a given device (e.g. only the LUT keys that
    device has not measured yet). Exceptions from ``fn`` never escape: they become ``ItemFailure``
    entries. ``on_result`` exceptions are failures too (the store refused the row).
    """
    if len({d.id for d in devices}) != len(devices):
        raise ValueError("run_workers needs distinct devices (one worker per device)")
    report: WorkerReport[T] = WorkerReport()
    lock = threading.Lock()
    stop = stop or threading.Event()

    def worker(device: Device) -> None:
        work = list(items(device) if callable(items) else items)
        disconnects = 0
        for pos, item in enumerate(work):
            if stop.is_set():
                with lock:
                    report.skipped.extend((device.id, it) for it in work[pos:])
                return
            try:
                result = fn(device, item)
                with lock:
                    if on_result is not None:
                        on_result(device, item, result)
                    report.completed.append((device.id, item))
                disconnects = 0
            except Exception as exc:  # isolate: one item or device never kills the others
                if isinstance(exc, DeviceError):
                    message = str(exc)
                else:
                    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    log.debug("worker %s item %r crashed:\n%s", device.id, item, traceback.format_exc())
                log.warning("%s: item %r failed: %s", device.id, item, message)
                with lock:
                    report.failures.append(ItemFailure(device.id, item, type(exc).__name__, message))
                disconnects = disconnects + 1 if isinstance(exc, DeviceDisconnected) else 0
                if disconnects >= max_consecutive_disconnects:
                    with lock:
                        report.abandoned[device.id] = f"{disconnects} consecutive disconnects: {message}"
                        report.skipped.extend((device.id, it) for it in work[pos + 1 :])
                    return

    threads = [threading.Thread(target=worker, args=(d,), name=f"bench-{d.id}", daemon=True) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report
