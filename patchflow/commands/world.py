"""`patchflow world ...` (under construction: filled in by its issue)."""

import typer

app = typer.Typer(help="world commands", no_args_is_help=True)
