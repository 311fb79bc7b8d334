"""Options every config-driven command shares, and the run header."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from patchflow.config import Config, ConfigError, to_json
from patchflow.recipes import resolve

console = Console(stderr=True)

RecipeOpt = typer.Option("debug", "--recipe", help="recipe name (a function in patchflow/recipes/)")
SetOpt = typer.Option(None, "--set", help="dotted override, e.g. --set dit.depth=8 (repeatable)")


def load_config(recipe: str, overrides: list[str] | None, show: bool = True) -> Config:
    """Resolve recipe + overrides; a bad key exits with a clear message; print the resolved config."""
    try:
        cfg = resolve(recipe, overrides)
    except ConfigError as e:
        fail(str(e))
    if show:
        console.rule(f"[bold]config: {cfg.name}")
        console.print_json(to_json(cfg))
    return cfg


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error for a person and exit non-zero.

    soft_wrap: the terminal wraps, not rich, so a path or a command in the message stays one unbroken string
    (copyable, and greppable in logs); escape: a message quoting `--set a=["x"]` is text, not rich markup.
    """
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
