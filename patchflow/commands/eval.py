"""`patchflow eval ...` (under construction: filled in by its issue)."""

import typer

app = typer.Typer(help="eval commands", no_args_is_help=True)
