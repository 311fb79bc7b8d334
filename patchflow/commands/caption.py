"""`patchflow caption ...`: train the world captioner and measure how many facts its captions get right.

    patchflow caption train --recipe world_captioner --minutes 30
    patchflow caption eval --model runs/world_captioner --n 1000
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchflow.commands.common import SetOpt, fail, load_config

app = typer.Typer(help="the world captioner: train it, and count the facts its captions get right",
                  no_args_is_help=True)
stdout = Console()


@app.command()
def train(
    recipe: str = typer.Option("world_captioner", "--recipe", help="recipe name (a function in patchflow/recipes/)"),
    set: list[str] = SetOpt,  # noqa: A002 (the option is --set)
    out: Path = typer.Option(None, "--out", help="run folder (default: captioner.out_dir)"),
    steps: int = typer.Option(None, "--steps", help="training steps (default: captioner.steps)"),
    minutes: float = typer.Option(None, "--minutes", help="time budget; the run ends at it with its lr decayed"),
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint in the run folder"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train the world captioner; writes checkpoints/, metrics.jsonl, eval.json and <out>/captioner."""
    from patchflow.text.captioner_train import train_captioner

    cfg = load_config(recipe, set, show=not quiet)
    if steps is not None and steps < 1:
        fail(f"--steps must be at least 1, got {steps}")
    try:
        folder = train_captioner(cfg, out_dir=out, steps=steps, minutes=minutes, resume=resume, quiet=quiet)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    report = json.loads((folder.parent / "eval.json").read_text())
    rate = 100 * report["facts_right"]
    stdout.print(f"saved {folder}; facts right on {report['clips']} held-out clips: {rate:.1f}%")


@app.command(name="eval")
def evaluate(
    model: Path = typer.Option(..., "--model", help="captioner folder, run folder or model folder with captioner/"),
    n: int = typer.Option(500, "--n", help="held-out clips to caption"),
    recipe: str = typer.Option("world_captioner", "--recipe", help="recipe whose world section draws the clips"),
    first_seed: int = typer.Option(0, "--first-seed", help="seed of the first held-out clip"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Caption N held-out world clips, parse each caption with the world's parser and count the facts right."""
    from patchflow.model_folder_errors import ModelFolderError
    from patchflow.text.captioner_eval import VAL_SEED_BASE, facts_right
    from patchflow.text.world_captioner import load_world_captioner

    if n < 1:
        fail(f"--n must be at least 1, got {n}")
    if not 0 <= first_seed <= VAL_SEED_BASE - n:
        fail(f"--first-seed must keep the clips among the held-out seeds 0..{VAL_SEED_BASE - 1}, got {first_seed}")
    cfg = load_config(recipe, None, show=False)
    try:
        captioner = load_world_captioner(model / "captioner" if (model / "checkpoints").is_dir() else model)
    except ModelFolderError as e:
        fail(str(e))
    w = cfg.world
    report = facts_right(captioner.caption, n, w.sizes, w.frames, captioner.cfg.fps, w.feature_prob, first_seed)
    if as_json:
        stdout.print_json(json.dumps(report.to_dict()))
        return
    table = Table(title=f"{model}: facts right on {n} held-out clips")
    for column in ("fact", "right", "judged", "rate [95 % interval]"):
        table.add_column(column)
    for what, right, judged, text in report.rows():
        table.add_row(what, str(right), str(judged), text)
    stdout.print(table)
    by = report.to_dict()
    stdout.print("by size: " + ", ".join(f"{k} {100 * v['rate']:.1f}%" for k, v in sorted(by["sizes"].items())))
    stdout.print("by frames: " + ", ".join(f"{k} {100 * v['rate']:.1f}%" for k, v in by["frames"].items()))
    if report.unparsed:
        stdout.print(f"[yellow]{report.unparsed} captions did not parse[/]")
