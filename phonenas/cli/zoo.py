"""`phonenas zoo ...` commands (thin wrappers over the library)."""

import typer

app = typer.Typer(help="zoo commands", no_args_is_help=True)
