"""`phonenas arch ...` commands (thin wrappers over the library)."""

import typer

app = typer.Typer(help="arch commands", no_args_is_help=True)
