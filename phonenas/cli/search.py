"""`phonenas search ...` commands (thin wrappers over the library)."""

import typer

app = typer.Typer(help="search commands", no_args_is_help=True)
