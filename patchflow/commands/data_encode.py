"""`patchflow data encode`: VAE latents and text embeddings, computed once into a latent cache.

    patchflow data encode --recipe world_tiny --out runs/world_tiny/latents
    patchflow train --recipe world_tiny --set data.latents=runs/world_tiny/latents

Resumable: run it again after an interruption and it skips the shards already written.
"""

from __future__ import annotations

import typer

from patchflow.commands.common import RecipeOpt, SetOpt, console, fail, load_config


def encode(
    out: str = typer.Option(..., "--out", help="folder for the latent cache"),
    recipe: str = RecipeOpt,
    set: list[str] = SetOpt,  # noqa: A002 (the option is --set)
    data: str = typer.Option("", "--data", help="manifest (JSONL/CSV/Parquet); default: data.manifest or the world"),
) -> None:
    """Encode every sample of the data once (VAE from train.vae_path or vae.*; text from text.*)."""
    import torch

    from patchflow.data.latent_cache import encode_cache, read_index
    from patchflow.text import TextEncoder
    from patchflow.train.batches import build_vae, data_rows
    from patchflow.train.logging import progress

    cfg = load_config(recipe, set)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        rows = data_rows(cfg, data or None, is_main=True)
        vae = build_vae(cfg, device)
        text_encoder = TextEncoder(cfg.text, device=device)
        with progress(metrics=False, console=console) as bar:
            index = encode_cache(cfg, rows, out, vae, text_encoder, device, progress=bar)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    console.print(f"latent cache: {index}")
    warn_if_texts_cut(read_index(out)["text_cut"])


def warn_if_texts_cut(cut: dict) -> None:
    """One line for the whole cache: a caption cut in training is a fact the model is never told."""
    if cut["cut"]:
        console.print(f"[yellow]warning:[/] {cut['cut']} of {cut['texts']} texts are longer than text.max_length="
                      f"{cut['max_length']} tokens (the longest: {cut['longest']}) and were cut: the model never sees "
                      f"their ends; re-encode with --set text.max_length={cut['longest']} or more", soft_wrap=True)
