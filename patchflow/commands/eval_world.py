"""`patchflow eval world`: the world bench on a model folder, or on the simulator itself (`world-truth`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchflow.commands.common import fail

TRUTH = "world-truth"
stdout = Console()


def world(
    model: str = typer.Option(..., "--model", help=f"model folder, or {TRUTH} to score the simulator itself"),
    n_per_category: int = typer.Option(2, "--n-per-category", help="prompts per category (the first K of each)"),
    json_out: bool = typer.Option(False, "--json", help="print the numbers as JSON"),
    out: Path = typer.Option(Path("runs/bench"), "--out", help="folder for summary.md, summary.json, sheets/"),
    steps: int | None = typer.Option(None, "--steps", help="denoising steps (default: the model's)"),
    guidance: float | None = typer.Option(None, "--guidance", help="guidance scale (default: the model's)"),
    seed: int = typer.Option(0, "--seed", help="base seed; each prompt adds its fixed offset"),
    long: bool = typer.Option(False, "--long", help="also the 60 s samples"),
    device: str = typer.Option("cpu", "--device", help="where the model runs (cpu, cuda, ...)"),
) -> None:
    """Score prompt fidelity and physics on the versioned world prompt set: per-category pass rates."""
    from patchflow.eval.world_bench import pipeline_generator, run_world_bench, truth_generator

    if n_per_category < 1:
        fail(f"--n-per-category must be at least 1, got {n_per_category}")
    if model == TRUTH:
        generate = truth_generator()
    else:
        folder = Path(model)
        if not folder.is_dir():
            fail(f"model folder {folder} does not exist (give a model folder, or --model {TRUTH})")
        if not (folder / "model_index.json").is_file():
            fail(f"{folder} is not a patchflow model folder (no model_index.json)")
        generate = pipeline_generator(folder, steps=steps, guidance=guidance, device=device)
    result = run_world_bench(generate, n_per_category, out, seed=seed, progress=not json_out, long=long,
                             model=model)
    if json_out:
        print(json.dumps(result.summary(), indent=2))
        return
    stdout.print(table(result.summary()))
    stdout.print(f"wrote {out / 'summary.md'}, {out / 'summary.json'} and contact sheets in {out / 'sheets'}")


def table(summary: dict) -> Table:
    def pct(rate):
        return "n/a" if rate is None else f"{100 * rate:.1f}%"

    t = Table(title=f"world bench {summary['version']}: {summary['model']}")
    for name, justify in (("category", "left"), ("samples", "right"), ("passed", "right"), ("pass rate", "right")):
        t.add_column(name, justify=justify)
    for name, c in summary["categories"].items():
        t.add_row(name, str(c["samples"]), f"{c['passed']}/{c['judged']}", pct(c["pass_rate"]))
    t.add_row("overall", "", "", pct(summary["overall"]), style="bold")
    t.caption = (f"appearances {summary['appearances_per_min']:.2f}/min, "
                 f"disappearances {summary['disappearances_per_min']:.2f}/min")
    return t


__all__ = ["world", "table", "TRUTH"]
