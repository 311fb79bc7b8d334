"""`patchflow vae ...` (under construction: filled in by its issue)."""

import typer

app = typer.Typer(help="vae commands", no_args_is_help=True)
