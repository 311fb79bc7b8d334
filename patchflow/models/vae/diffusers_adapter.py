"""Bring your own pretrained VAE: a diffusers video VAE folder behind CausalVAE's contract.

`DiffusersVAE.from_pretrained(folder)` picks the class from config.json's `_class_name`
(Wan, CogVideoX, HunyuanVideo, LTX-Video), and exposes the same `encode` (normalised
posterior mean) / `decode` / factors as ours. Each family normalises its latents its
own way; here every rule becomes one per-channel (mean, std): z_norm = (z - mean) / std.

Streaming: these models stream time internally (Wan frame by frame through its own
cache), so `chunk_frames` is accepted for the shared signature but not needed; `tile`
switches on diffusers' own spatial tiling. diffusers is imported only when used.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

SUPPORTED = ("AutoencoderKLWan", "AutoencoderKLCogVideoX", "AutoencoderKLHunyuanVideo", "AutoencoderKLLTXVideo")


def _factors_and_norm(model: nn.Module, class_name: str) -> tuple[int, int, int, torch.Tensor, torch.Tensor]:
    """(temporal factor, spatial factor, latent channels, latent mean (C,), latent std (C,))."""
    cfg = model.config
    if class_name == "AutoencoderKLWan":
        c = cfg.z_dim
        mean = torch.tensor(cfg.latents_mean, dtype=torch.float32)
        std = torch.tensor(cfg.latents_std, dtype=torch.float32)
        return cfg.scale_factor_temporal, cfg.scale_factor_spatial, c, mean, std
    if class_name == "AutoencoderKLLTXVideo":
        c = cfg.latent_channels
        # diffusers' LTX pipeline: (z - latents_mean) * scaling_factor / latents_std
        std = model.latents_std.float().cpu() / cfg.scaling_factor
        return model.temporal_compression_ratio, model.spatial_compression_ratio, c, model.latents_mean.float().cpu(), std
    c = cfg.latent_channels
    mean, std = torch.zeros(c), torch.full((c,), 1.0 / cfg.scaling_factor)  # z * scaling_factor
    if class_name == "AutoencoderKLCogVideoX":
        return int(cfg.temporal_compression_ratio), 2 ** (len(cfg.block_out_channels) - 1), c, mean, std
    return model.temporal_compression_ratio, model.spatial_compression_ratio, c, mean, std


class DiffusersVAE(nn.Module):
    """A diffusers video VAE with CausalVAE's encode/decode contract."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.class_name = type(model).__name__
        if self.class_name not in SUPPORTED:
            raise ValueError(f"unsupported diffusers VAE {self.class_name}; supported: {', '.join(SUPPORTED)}")
        self.model = model
        r_t, s, c, mean, std = _factors_and_norm(model, self.class_name)
        self._factors = (int(r_t), int(s), int(c))
        self.register_buffer("latent_mean", mean)
        self.register_buffer("latent_std", std)

    @property
    def temporal_factor(self) -> int:
        return self._factors[0]

    @property
    def spatial_factor(self) -> int:
        return self._factors[1]

    @property
    def latent_channels(self) -> int:
        return self._factors[2]

    def check_video(self, video: torch.Tensor) -> None:
        from patchflow.models.vae.autoencoder import _nearest

        if video.ndim != 5:
            raise ValueError(f"expected a video (B, C, T, H, W), got shape {tuple(video.shape)}")
        t, h, w = video.shape[2:]
        r, s = self.temporal_factor, self.spatial_factor
        if (t - 1) % r:
            raise ValueError(f"T = {t} frames does not fit 1 + {r}k; nearest valid: {_nearest(t, range(1, t + r + 1, r))}")
        for name, size in (("H", h), ("W", w)):
            if size % s:
                raise ValueError(f"{name} = {size} is not a multiple of the spatial factor {s}; nearest valid: "
                                 f"{_nearest(size, range(0, size + s + 1, s))}")

    def _tiling(self, tile: int | None) -> None:
        if tile:
            self.model.enable_tiling()
        else:
            self.model.disable_tiling()

    def _view(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(1, -1, 1, 1, 1)  # (C,) -> (1, C, 1, 1, 1)

    def encode(self, video: torch.Tensor, chunk_frames: int | None = None, tile: int | None = None) -> torch.Tensor:
        self.check_video(video)
        self._tiling(tile)
        mean = self.model.encode(video.to(self.model.dtype)).latent_dist.mean.float()  # (B, C, T', H', W')
        return (mean - self._view(self.latent_mean)) / self._view(self.latent_std)

    def decode(self, z: torch.Tensor, chunk_frames: int | None = None, tile: int | None = None) -> torch.Tensor:
        self._tiling(tile)
        raw = z * self._view(self.latent_std) + self._view(self.latent_mean)
        return self.model.decode(raw.to(self.model.dtype)).sample.float().clamp(-1.0, 1.0)

    def save_pretrained(self, directory: str | Path) -> Path:
        self.model.save_pretrained(str(directory))
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> DiffusersVAE:
        import diffusers

        name = json.loads((Path(directory) / "config.json").read_text())["_class_name"]
        if name not in SUPPORTED:
            raise ValueError(f"{directory}: diffusers VAE class {name} is not supported; supported: {', '.join(SUPPORTED)}")
        model = getattr(diffusers, name).from_pretrained(str(directory))
        return cls(model.to(device).eval()).to(device)
