"""The video compression network: causal 3D VAE (ours) or a diffusers VAE behind the same contract."""

from __future__ import annotations

from pathlib import Path

from patchflow.config import VAEConfig
from patchflow.model_folder_errors import (
    FIX,
    MissingModelFile,
    ModelFolderError,
    check_weights,
    config_from,
    read_json,
    require,
)
from patchflow.models.vae.autoencoder import CLASS_NAME, CONFIG_NAME, WEIGHTS_NAME, CausalVAE
from patchflow.models.vae.causal_conv import CausalConv3d, StreamCache

__all__ = ["CausalVAE", "CausalConv3d", "StreamCache", "build_vae", "load_vae", "vae_folder"]


def vae_folder(path: str | Path) -> Path:
    """The VAE folder inside `path`: its `vae/` for a whole model folder (one with model_index.json), else
    itself. A missing file raises MissingModelFile (a FileNotFoundError) naming it."""
    path = Path(path)
    if (path / "model_index.json").is_file() or (path / "vae").is_dir():
        require(path / "vae" / CONFIG_NAME, "the VAE's settings")
        return path / "vae"
    if (path / CONFIG_NAME).is_file():
        return path
    raise MissingModelFile(f"{path} holds no VAE: expected {CONFIG_NAME} there or in its vae/ subfolder")


def load_vae(path: str | Path, device: str = "cpu"):
    """Our CausalVAE, or a diffusers video VAE folder (by config.json's `_class_name`), same contract.

    A missing or damaged file, or a class that neither we nor the diffusers adapter load, raises
    ModelFolderError naming it (checked before any weight is read)."""
    from patchflow.models.vae.diffusers_adapter import SUPPORTED

    folder = vae_folder(path)
    config = read_json(folder / CONFIG_NAME, "the VAE's settings")
    # Folders written before the VAE saved its class name hold none: those are ours (models/world-tiny).
    name = config["_class_name"] if "_class_name" in config else CLASS_NAME
    if name in SUPPORTED:
        from patchflow.models.vae.diffusers_adapter import DiffusersVAE

        return DiffusersVAE.from_pretrained(folder, device=device)
    if name != CLASS_NAME:
        raise ModelFolderError(f"{folder / CONFIG_NAME}: VAE class {name!r} is not one patchflow loads (ours: "
                               f"{CLASS_NAME}; diffusers: {', '.join(SUPPORTED)}); point at a folder of one of them")
    config_from(VAEConfig, {k: v for k, v in config.items() if not k.startswith("_")}, folder / CONFIG_NAME)
    check_weights(folder / WEIGHTS_NAME)
    try:
        return CausalVAE.from_pretrained(folder, device=device)
    except (RuntimeError, ValueError) as e:  # weights of another VAE, or settings no VAE can have
        first = str(e).strip().splitlines()[0]
        raise ModelFolderError(f"{folder} does not load: {first[:300]}; {FIX}") from None


def build_vae(cfg: VAEConfig, device: str = "cpu"):
    """`cfg.pretrained` when set (a folder, ours or diffusers'), else a fresh CausalVAE."""
    if cfg.pretrained:
        return load_vae(cfg.pretrained, device=device)
    return CausalVAE(cfg).to(device)
