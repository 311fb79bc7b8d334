"""A debug model folder with random weights everywhere (a fresh DiT predicts zero: nothing to compare)."""

from pathlib import Path

import torch

from patchflow.models.dit import DiT
from patchflow.models.vae import CausalVAE
from patchflow.pipeline import Pipeline
from patchflow.recipes import get_recipe
from patchflow.text import TextEncoder


def random_model_dir(folder: Path) -> Path:
    cfg = get_recipe("debug")
    torch.manual_seed(0)
    dit = DiT(cfg.dit)
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    pipe = Pipeline(CausalVAE(cfg.vae).eval(), dit.eval(), TextEncoder(cfg.text), cfg)
    return pipe.save_pretrained(folder / "model")
