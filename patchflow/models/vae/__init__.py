"""The video compression network: causal 3D VAE (ours) or a diffusers VAE behind the same contract."""

from __future__ import annotations

import json
from pathlib import Path

from patchflow.config import VAEConfig
from patchflow.models.vae.autoencoder import CONFIG_NAME, CausalVAE
from patchflow.models.vae.causal_conv import CausalConv3d, StreamCache

__all__ = ["CausalVAE", "CausalConv3d", "StreamCache", "build_vae", "load_vae", "vae_folder"]


def vae_folder(path: str | Path) -> Path:
    """The VAE folder inside `path`: itself, or its `vae/` for a whole model folder."""
    path = Path(path)
    if (path / "vae" / CONFIG_NAME).exists():
        return path / "vae"
    if (path / CONFIG_NAME).exists():
        return path
    raise FileNotFoundError(f"{path} holds no VAE: expected {CONFIG_NAME} there or in its vae/ subfolder")


def load_vae(path: str | Path, device: str = "cpu"):
    """Our CausalVAE, or a diffusers video VAE folder (by config.json's `_class_name`), same contract."""
    folder = vae_folder(path)
    config = json.loads((folder / CONFIG_NAME).read_text())
    if "_class_name" in config:
        from patchflow.models.vae.diffusers_adapter import DiffusersVAE

        return DiffusersVAE.from_pretrained(folder, device=device)
    return CausalVAE.from_pretrained(folder, device=device)


def build_vae(cfg: VAEConfig, device: str = "cpu"):
    """`cfg.pretrained` when set (a folder, ours or diffusers'), else a fresh CausalVAE."""
    if cfg.pretrained:
        return load_vae(cfg.pretrained, device=device)
    return CausalVAE(cfg).to(device)
