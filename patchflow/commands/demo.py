"""`patchflow demo`: every mode of the bundled model (patchflow/demo.py), written to outputs/ with an index.html.

Without the bundled model it says how to build it and renders a gallery of world videos instead.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from patchflow import demo

DEFAULT_MODEL = Path("models/world-tiny")


def command(
    out: Path = typer.Option(Path("outputs"), "--out", help="folder for the samples and index.html"),
    model: Path = typer.Option(DEFAULT_MODEL, "--model", help="model folder (diffusers layout)"),
    steps: int = typer.Option(None, "--steps", help="denoising steps; default: the model's sample.steps"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Generate a sample of every mode (text, image, extend, loop, edit, connect) and an index.html."""
    console = Console(stderr=True)
    if not (model / "model_index.json").is_file():
        console.print(f"[yellow]the model folder {model} is missing (no model_index.json)[/]: build the bundled "
                      "model with 'make world-model', or pass --model DIR. Rendering the world gallery instead.")
        demo.render_gallery(out, console)
        return
    demo.run(out, model, steps=steps, seed=seed, console=console)
