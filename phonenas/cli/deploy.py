"""`phonenas deploy ...` commands (thin wrappers over the library)."""

import typer

app = typer.Typer(help="deploy commands", no_args_is_help=True)
