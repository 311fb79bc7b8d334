"""`patchflow vae ...`: train the video compression network."""

from __future__ import annotations

import typer

from patchflow.commands.common import RecipeOpt, SetOpt, console, load_config

app = typer.Typer(help="the causal video VAE", no_args_is_help=True)


@app.command("train")
def train_command(
    recipe: str = RecipeOpt,
    data: str = typer.Option("", "--data", help="manifest to train on; empty = data.manifest or the world"),
    overrides: list[str] = SetOpt,
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint of this run"),
    stop_after: int = typer.Option(0, "--stop-after", help="leave after this many steps (checkpointed); 0 = run to the end"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads; 0 = torch's default"),
) -> None:
    """Train the VAE of a recipe; the result goes to <train.out_dir>/vae."""
    import torch

    from patchflow.train.vae_trainer import train_vae

    cfg = load_config(recipe, overrides)
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    summary = train_vae(cfg, manifest=data or None, resume=resume, stop_after=stop_after or None, device=device,
                        console=console)
    losses = summary["losses"]
    if losses:
        console.print(f"steps {summary['steps']}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
