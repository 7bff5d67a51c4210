"""`phonenas` root command: registers each command group and maps every error to one line.

Each group lives in its own module (zoo.py, arch.py, lut.py, search.py, deploy.py, devices.py,
demo.py) exposing a typer app or command; heavy imports stay inside the commands so that
``phonenas --help`` is fast.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from phonenas.cli import arch, demo, deploy, devices, explain, lut, search, zoo  # noqa: F401 (explain: `lut explain`)
from phonenas.console import configure_logging

app = typer.Typer(
    name="phonenas",
    help=(
        "Find and ship the fastest accurate CNN for each phone.\n\n"
        "Examples:\n\n"
        "  phonenas demo                      # whole flow on this computer with the bundled digits\n\n"
        "  phonenas zoo list\n\n"
        "  phonenas lut collect --device host --runtime executorch --dtype int8\n\n"
        "Add --debug anywhere for a full traceback on errors."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(zoo.app, name="zoo")
app.add_typer(arch.app, name="arch")
app.add_typer(lut.app, name="lut")
app.add_typer(search.app, name="search")
app.add_typer(deploy.app, name="deploy")
app.command(name="devices")(devices.devices)
app.command(name="demo")(demo.demo)

_err = Console(stderr=True)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log progress details; show other libraries' output (else: in a log)."
    ),
) -> None:
    configure_logging(verbose)


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: one clear line per error, traceback only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="phonenas", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _err.print("[red]error:[/red] interrupted; finished work is saved, re-run the same command to resume")
        raise SystemExit(130) from None
    except Exception as e:  # noqa: BLE001 - the CLI boundary: every failure becomes one line
        if debug:
            raise
        _err.print(f"[red]error:[/red] {escape(one_line(e))}", highlight=False, soft_wrap=True)
        _err.print("[dim](run with --debug for the traceback)[/dim]")
        raise SystemExit(2) from None


def one_line(e: BaseException) -> str:
    """The first line of an error's message. Device errors keep their message and device, not the
    command they ran (a shell script is not an error message; --debug shows everything)."""
    from android_bench.errors import DeviceError

    if isinstance(e, DeviceError):
        text = e.message + (
            f" (device {e.device_id})" if e.device_id and e.device_id not in e.message else ""
        )
    else:
        text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


if __name__ == "__main__":
    run()
