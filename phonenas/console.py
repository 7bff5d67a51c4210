"""A quiet console: other libraries' output goes to a log file, PhoneNAS's own output to the terminal.

The runtimes PhoneNAS drives write to the terminal at several levels: Python logging (coremltools'
"Failed to load _MLModelProxy"), Python warnings (torch's ``_pytree`` deprecations), tqdm bars
("Running MIL default pipeline") and native C++ writes straight to file descriptors 1 and 2 (absl's
``flatbuffer_export.cc`` lines from the LiteRT converter, ExecuTorch's ``cpuinfo_utils.cpp`` /
``threadpool.cpp``). Only a file-descriptor redirection catches the last kind, so :func:`quiet_console`

* points fds 1 and 2 at the log file (``dup2``) for the whole command, so every write - Python,
  C/C++, and the export workers the collection spawns (they inherit the fds) - lands there;
* gives the command's rich :class:`~rich.console.Console` a saved duplicate of the real terminal, so
  PhoneNAS's progress bars, tables and summary still render;
* sends log records of PhoneNAS's own packages (warnings; info with ``--verbose``) to that console and
  every record, plus captured Python warnings, to the log file.

With ``verbose`` the same output is also shown: fds 1 and 2 go into a pipe whose reader copies every
byte to the terminal and to the log file. The CLI calls :func:`configure_logging` once (root option
``--verbose``); a command that writes into an output directory wraps its work in
``with quiet_console(out / LOG_NAME, console):``.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import logging
import os
import select
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.markup import escape

LOG_NAME = "phonenas.log"
# Loggers whose records are PhoneNAS's own output (shown on the console); everything else is third-party.
OWN_LOGGERS = ("phonenas", "search", "latency", "deploy", "android_bench", "benchmarks")
_FORMAT = "%(levelname)s %(name)s: %(message)s"
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def is_own(name: str) -> bool:
    """True for a logger of PhoneNAS's packages (``latency.collect``), False for a library's (``absl``)."""
    return name.split(".")[0] in OWN_LOGGERS


@dataclass
class Capture:
    """An active :func:`quiet_console`: where the log goes and the console that reaches the terminal."""

    log_path: Path
    console: Console
    verbose: bool
    redirected: bool  # False when fds 1/2 could not be duplicated (no terminal fds): logging only
    _start_size: int = 0
    _tee: _Tee | None = field(default=None, repr=False)

    def logged_bytes(self) -> int:
        """Bytes written to the log file since this capture started."""
        try:
            return self.log_path.stat().st_size - self._start_size
        except OSError:
            return 0


@dataclass
class _State:
    verbose: bool = False
    active: Capture | None = None
    handler: logging.Handler | None = None


_state = _State()


def capturing() -> Capture | None:
    """The active capture, if any (e.g. a progress bar must then not redirect ``sys.stdout`` itself)."""
    return _state.active


class _ConsoleHandler(logging.Handler):
    """Log records on the console: PhoneNAS's always (from its level), other libraries' only when no
    capture is active or it is verbose. During a capture, records print through the capture's rich
    console so they appear above a live progress display instead of breaking it."""

    def emit(self, record: logging.LogRecord) -> None:
        cap = _state.active
        if cap is not None and not cap.verbose and not is_own(record.name):
            return  # third-party: the log file has it
        try:
            msg = self.format(record)
            if cap is not None:
                style = (
                    "yellow" if record.levelno == logging.WARNING else "red" if record.levelno > 30 else None
                )
                cap.console.print(escape(msg), style=style, highlight=False, soft_wrap=True)
            else:
                sys.stderr.write(msg + "\n")
                sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def configure_logging(verbose: bool = False) -> None:
    """Console logging for the CLI (idempotent): WARNING and up, INFO and up with ``verbose``."""
    root = logging.getLogger()
    if _state.handler is not None:
        root.removeHandler(_state.handler)
    handler = _ConsoleHandler(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    _state.verbose, _state.handler = verbose, handler


def _flush_c_stdio() -> None:
    """Flush C stdio buffers (printf / std::cout of native libraries) into the current fds."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no libc symbol table (not Linux/macOS): nothing buffered we can reach
        pass


class _Tee(threading.Thread):
    """Copies everything written into a pipe to several fds (terminal and log) until stopped.

    Children that inherited the pipe (multiprocessing's resource tracker lives as long as this process)
    keep its write end open, so the end of the capture cannot wait for end-of-file: :meth:`stop`
    drains what is buffered in the pipe and ends the copy."""

    def __init__(self, sinks: tuple[int, ...]) -> None:
        super().__init__(daemon=True, name="phonenas-console-tee")
        self.read_fd, self.write_fd = os.pipe()
        self.sinks = sinks
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            ready, _, _ = select.select([self.read_fd], [], [], 0.05)
            if ready and not self._pump():
                return

    def _pump(self) -> bool:
        """Copy one chunk; False at end of file or, once non-blocking, when the pipe is empty."""
        try:
            chunk = os.read(self.read_fd, 65536)
        except BlockingIOError:
            return False
        for fd in self.sinks:
            with contextlib.suppress(OSError):
                os.write(fd, chunk)
        return bool(chunk)

    def stop(self) -> None:
        """Call after fds 1/2 are restored: copy what is still in the pipe, then close it."""
        self._done.set()
        self.join(timeout=5.0)
        os.set_blocking(self.read_fd, False)
        while self._pump():
            pass
        os.close(self.read_fd)


def _writes_to_fd(console: Console, fds: tuple[int, ...]) -> bool:
    """True if ``console`` writes to one of the process's file descriptors ``fds``."""
    try:
        return console.file.fileno() in fds
    except (AttributeError, OSError, ValueError):  # io.StringIO, click's test buffers
        return False


@contextlib.contextmanager
def quiet_console(
    log_path: Path | str, console: Console | None = None, verbose: bool | None = None
) -> Iterator[Capture]:
    """Send everything written to fds 1/2 (Python, native code, child processes), Python warnings and
    third-party log records to ``log_path`` (appended) while ``console`` keeps printing on the terminal.

    ``verbose`` (default: the CLI's ``--verbose``) also shows that output on the terminal. On exit the
    fds are restored and, when something was logged, one dim line says where."""
    verbose = _state.verbose if verbose is None else verbose
    console = console or Console()
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - closed in the finally below
    stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    log.write(f"==== {stamp} {command}\n".encode())
    start = log.seek(0, os.SEEK_END)  # what the command itself logs comes after this header

    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    saved: tuple[int, int] | None
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # fds 1/2 closed (daemonised): capture logging only
        saved = None
    terminal: IO[str] | None = None
    old_file, old_size = console._file, (console._width, console._height)  # noqa: SLF001 - restored below
    tee: _Tee | None = None
    if saved is not None:
        terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8", errors="replace")
        if terminal.isatty() and not os.isatty(0):  # rich sizes itself from fd 0/1/2: none is the tty now
            console.size = os.get_terminal_size(terminal.fileno())  # type: ignore[assignment]
        if _writes_to_fd(console, (1, 2)):  # else (a test runner's buffer): leave it where it writes
            console.file = terminal
        if verbose:
            tee = _Tee((log.fileno(), saved[1]))
            tee.start()
            os.dup2(tee.write_fd, 1)
            os.dup2(tee.write_fd, 2)
            os.close(tee.write_fd)
        else:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)

    root = logging.getLogger()
    file_stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed below
    file_handler = logging.StreamHandler(file_stream)
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    old_level = root.level
    root.addHandler(file_handler)
    root.setLevel(min(old_level or logging.WARNING, logging.INFO))
    logging.captureWarnings(True)

    cap = Capture(log_path, console, verbose, saved is not None, start, tee)
    previous, _state.active = _state.active, cap
    try:
        yield cap
    finally:
        _state.active = previous
        logging.captureWarnings(False)
        root.removeHandler(file_handler)
        root.setLevel(old_level)
        file_handler.close()
        file_stream.close()
        sys.stdout.flush()
        sys.stderr.flush()
        _flush_c_stdio()
        if saved is not None:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            if tee is not None:  # before closing saved[1]: the drain still writes to it
                tee.stop()
            os.close(saved[0])
            os.close(saved[1])
            console.file = old_file  # type: ignore[assignment]
            console._width, console._height = old_size  # noqa: SLF001
            if terminal is not None:
                terminal.close()
        log.close()
        if not verbose and cap.logged_bytes() > 0:
            console.print(
                f"[dim]other libraries' output: {escape(str(log_path))} (--verbose shows it)[/dim]",
                highlight=False,
                soft_wrap=True,
            )
