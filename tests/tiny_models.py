"""Tiny model folders for tests that sample: importable from any test (tests/ is on sys.path via conftest.py)."""

from pathlib import Path

import torch


def tiny_model_folder(path: Path, seed: int) -> Path:
    """A debug model with random weights that read the text and the latents (a fresh DiT outputs zero)."""
    from patchflow.models.dit import DiT
    from patchflow.models.vae import CausalVAE
    from patchflow.pipeline import Pipeline
    from patchflow.recipes import get_recipe
    from patchflow.text import TextEncoder

    cfg = get_recipe("debug")
    cfg.vae.base_width = 4  # a narrow VAE: decoding is most of a debug model's sampling time
    torch.manual_seed(seed)
    dit = DiT(cfg.dit)
    for block in dit.blocks:
        torch.nn.init.normal_(block.cross.out.weight, std=0.2)
    torch.nn.init.normal_(dit.proj_out.weight, std=0.2)
    return Pipeline(CausalVAE(cfg.vae).eval(), dit.eval(), TextEncoder(cfg.text), cfg).save_pretrained(path)
