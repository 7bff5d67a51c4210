"""`phonenas lut ...` commands (thin wrappers over the library)."""

import typer

app = typer.Typer(help="lut commands", no_args_is_help=True)
