"""`patchflow eval ...`: measure trained models (one command per thing measured)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from patchflow.commands.common import SetOpt, console, fail, load_config

app = typer.Typer(help="measure trained models", no_args_is_help=True)


def _model_config(model: Path, recipe: str, overrides: list[str] | None):
    """The full Config saved in a model folder when there is one, else the recipe's."""
    from patchflow.config import Config, ConfigError, apply_overrides
    from patchflow.model_folder_errors import ModelFolderError, read_config

    if (model / "config.json").exists() and (model / "vae").is_dir():
        try:
            return apply_overrides(read_config(model / "config.json", Config), overrides)
        except ModelFolderError as e:  # a damaged config.json: the message names it
            fail(str(e))
        except ConfigError as e:
            fail(f"{model / 'config.json'}: {e}")
    return load_config(recipe, overrides, show=False)


@app.command("vae")
def vae_command(
    model: Path = typer.Option(..., "--model", help="a VAE folder, or a model folder holding vae/"),
    data: str = typer.Option("", "--data", help="manifest of held-out samples; empty = held-out world videos"),
    n: int = typer.Option(16, "--n", help="samples to measure"),
    recipe: str = typer.Option("world_tiny", "--recipe", help="recipe whose world renders the held-out videos"),
    overrides: list[str] = SetOpt,
    chunk_frames: int = typer.Option(0, "--chunk-frames", help="stream in chunks of this many frames; 0 = whole"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON line"),
) -> None:
    """PSNR, SSIM and encode/decode throughput of a VAE on held-out samples."""
    from patchflow.eval.vae_metrics import evaluate_vae, heldout_world_samples, manifest_videos
    from patchflow.models.vae import load_vae

    try:
        vae = load_vae(model).eval()
    except (FileNotFoundError, ValueError) as e:  # ModelFolderError (a damaged folder) is a ValueError
        fail(str(e))
    cfg = _model_config(model, recipe, overrides)
    r_t, s = vae.temporal_factor, vae.spatial_factor
    facts = None  # a manifest's videos have no ground truth; the world's do
    if data:
        videos = manifest_videos(data, n, cfg.data.fps, r_t, s)
        source = data
    else:
        videos, facts = map(list, zip(*heldout_world_samples(cfg, n, r_t, s), strict=True))
        source = f"world (held-out seed, recipe {cfg.name})"
    metrics = evaluate_vae(vae, videos, chunk_frames or None, facts=facts, fps=cfg.world.fps)
    result = {"model": str(model), "data": source, **metrics}
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        console.print(f"{key:>12}: {value:.4f}" if isinstance(value, float) else f"{key:>12}: {value}")
