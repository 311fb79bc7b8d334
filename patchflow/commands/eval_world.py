"""`patchflow eval world`: the world bench on a model folder, on the simulator itself (`world-truth`), or on
the simulator through a VAE (`--through-vae`, the VAE ceiling).

    patchflow eval world --model models/world-tiny                  # first 8 prompts of every category
    patchflow eval world --model models/world-tiny --quick          # the fixed quick subset, ~3 min on a CPU
    patchflow eval world --model world-truth --through-vae models/world-tiny   # the best a DiT on that VAE scores
    patchflow eval world --model runs/world_rung1/model --quick --rung 1     # what rung 1 of the ladder teaches
    patchflow eval world --model models/world-tiny --quick --expand-prompt  # prompts expanded before sampling
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchflow.commands.common import fail
from patchflow.model_folder_errors import ModelFolderError

TRUTH = "world-truth"
stdout = Console()


def world(
    model: str = typer.Option(..., "--model", help=f"model folder, or {TRUTH} to score the simulator itself"),
    n_per_category: int = typer.Option(8, "--n-per-category", help="prompts per category (the first K of each)"),
    quick: bool = typer.Option(False, "--quick", help="the fixed quick subset (QUICK_IDS) instead of the first K "
                               "of each category: about 3 minutes for the bundled model on a CPU"),
    through_vae: Path | None = typer.Option(None, "--through-vae", help=f"with --model {TRUTH}: encode and decode "
                                            "the truth with this VAE (a VAE folder, or a model folder holding vae/)"),
    category: list[str] | None = typer.Option(None, "--category", help="only this category (repeatable)"),
    rung: int = typer.Option(0, "--rung", help="rung K of the difficulty ladder (patchflow/world/ladder.py): the "
                             "prompts of its categories that its world shows; 0 = the whole bench"),
    json_out: bool = typer.Option(False, "--json", help="print the numbers as JSON"),
    out: Path = typer.Option(Path("runs/bench"), "--out", help="folder for summary.md, summary.json, sheets/"),
    steps: int | None = typer.Option(None, "--steps", help="denoising steps (default: the model's)"),
    guidance: float | None = typer.Option(None, "--guidance", help="guidance scale (default: the model's)"),
    seed: int = typer.Option(0, "--seed", help="base seed; each prompt adds its fixed offset"),
    long: bool = typer.Option(False, "--long", help="also the 60 s samples"),
    device: str = typer.Option("cpu", "--device", help="where the model (or the VAE) runs (cpu, cuda, ...)"),
    expand_prompt: bool = typer.Option(False, "--expand-prompt", help="expand each prompt into a detailed caption "
                                       "(--expander) before sampling; the prompt's own facts are judged"),
    expander: str = typer.Option("world", "--expander", help="with --expand-prompt: world (the world's own, "
                                 "offline), openai or hf (their settings from the environment, text/expand.py)"),
) -> None:
    """Score prompt fidelity and physics on the versioned world prompt set: per-category pass rates with
    95 % intervals."""
    from patchflow.eval.world_bench import bench_prompts, pipeline_generator, run_world_bench, truth_generator
    from patchflow.eval.world_prompts import rung_categories
    from patchflow.text.expand import EXPANDER_NAMES

    if n_per_category < 1:
        fail(f"--n-per-category must be at least 1, got {n_per_category}")
    if through_vae is not None and model != TRUTH:
        fail(f"--through-vae passes the simulator's truth through a VAE, so it needs --model {TRUTH}, not "
             f"{model}; bench {model} without --through-vae")
    categories = tuple(category) if category else None
    try:
        prompts = bench_prompts(n_per_category, long=long, categories=categories, quick=quick, rung=rung)
    except ValueError as e:
        fail(str(e))
    if not prompts:
        fail(f"rung {rung} shows none of the prompts asked for; leave out --category, or pick a category of "
             f"the rung ({', '.join(rung_categories(rung))})")
    if expand_prompt and expander not in EXPANDER_NAMES:
        fail(f"--expander must be one of {', '.join(EXPANDER_NAMES)}, got {expander!r}")
    if expand_prompt and model == TRUTH:
        fail(f"--expand-prompt changes what a model is asked; {TRUTH} renders the prompt's facts themselves: "
             "leave it out, or bench a model folder")
    name = model
    if model == TRUTH:
        generate = truth_generator()
        if through_vae is not None:
            generate, name = vae_ceiling_generator(generate, through_vae, prompts, device)
    else:
        folder = Path(model)
        if not folder.is_dir():
            fail(f"model folder {folder} does not exist (give a model folder, or --model {TRUTH})")
        if not (folder / "model_index.json").is_file():
            fail(f"{folder} is not a patchflow model folder (no model_index.json)")
        try:
            generate = pipeline_generator(folder, steps=steps, guidance=guidance, device=device,
                                          expand_prompt=expander if expand_prompt else False)
        except ModelFolderError as e:  # a damaged model folder: the message names the file
            fail(str(e))
        if expand_prompt:
            name = f"{model} (prompts expanded by {expander})"
    result = run_world_bench(generate, n_per_category, out, seed=seed, progress=not json_out, long=long,
                             categories=categories, model=name, quick=quick, rung=rung)
    summary = {**result.summary(), **({"rung": rung} if rung else {})}
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    stdout.print(table(summary))
    stdout.print(f"wrote {out / 'summary.md'}, {out / 'summary.json'} and contact sheets in {out / 'sheets'}")


def vae_ceiling_generator(truth, path: Path, prompts: list, device: str):
    """(the truth through the VAE in `path`, the run's model name); a missing or misfit VAE fails clearly."""
    from patchflow.eval.vae_ceiling import check_fits, through_vae
    from patchflow.models.vae import CausalVAE, load_vae, vae_folder

    try:
        folder = vae_folder(path)
        vae = load_vae(folder, device=device).eval()
        check_fits(prompts, vae.temporal_factor, vae.spatial_factor)
    except (FileNotFoundError, ValueError) as e:
        fail(f"--through-vae {path}: {e}")
    chunk_frames = vae.cfg.chunk_frames if isinstance(vae, CausalVAE) else None  # diffusers VAEs stream themselves
    return through_vae(truth, vae, chunk_frames, device=device), f"{TRUTH} through {folder}"


def table(summary: dict) -> Table:
    from patchflow.eval.intervals import rate_with_interval

    title = f"world bench {summary['version']}: {summary['model']}"
    if summary["subset"] == "quick":
        title += " (quick subset)"
    if summary.get("rung"):
        title += f", rung {summary['rung']} of the ladder"
    t = Table(title=title)
    for name, justify in (("category", "left"), ("samples", "right"), ("passed", "right"),
                          ("pass rate [95% interval]", "right")):
        t.add_column(name, justify=justify)
    for name, c in summary["categories"].items():
        t.add_row(name, str(c["samples"]), f"{c['passed']}/{c['judged']}", rate_with_interval(c["passed"], c["judged"]))
    t.add_row("overall", "", f"{summary['passed']}/{summary['judged']}",
              rate_with_interval(summary["passed"], summary["judged"]), style="bold")
    t.caption = (f"appearances {summary['appearances_per_min']:.2f}/min, "
                 f"disappearances {summary['disappearances_per_min']:.2f}/min")
    return t


__all__ = ["world", "table", "vae_ceiling_generator", "TRUTH"]
