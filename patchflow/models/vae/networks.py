"""Encoder and decoder of the causal VAE, and the plan of where they resample.

Levels run at widths base_width * width_mults[i]; between consecutive levels the
encoder halves space (the first log2(spatial_factor) transitions) and/or time (the
last log2(temporal_factor) transitions, so early full-rate layers see every frame).
The decoder mirrors it exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from patchflow.config import VAEConfig
from patchflow.models.vae.blocks import Downsample, FrameAttention, PixelGroupNorm, ResBlock, Upsample
from patchflow.models.vae.causal_conv import CausalConv3d, StreamCache

TEMPORAL_FACTORS = (1, 2, 4, 8)
SPATIAL_FACTORS = (4, 8, 16)


def resample_plan(cfg: VAEConfig) -> list[tuple[bool, bool]]:
    """(halve space, halve time) for each transition between levels; checks the factors."""
    if cfg.temporal_factor not in TEMPORAL_FACTORS:
        raise ValueError(f"vae.temporal_factor must be one of {TEMPORAL_FACTORS}, got {cfg.temporal_factor}")
    if cfg.spatial_factor not in SPATIAL_FACTORS:
        raise ValueError(f"vae.spatial_factor must be one of {SPATIAL_FACTORS}, got {cfg.spatial_factor}")
    n = len(cfg.width_mults) - 1
    n_space = int(math.log2(cfg.spatial_factor))
    n_time = int(math.log2(cfg.temporal_factor))
    if n < max(n_space, n_time):
        need = max(n_space, n_time) + 1
        raise ValueError(
            f"vae.width_mults has {n + 1} levels but spatial_factor {cfg.spatial_factor} and temporal_factor "
            f"{cfg.temporal_factor} need at least {need} (one halving per transition between levels)"
        )
    return [(i < n_space, i >= n - n_time) for i in range(n)]


def _widths(cfg: VAEConfig) -> list[int]:
    return [cfg.base_width * m for m in cfg.width_mults]


class Encoder(nn.Module):
    """(B, 3, T, H, W) video -> (B, 2 * C_lat, T', H', W') posterior mean and log-variance."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        widths, plan, g = _widths(cfg), resample_plan(cfg), cfg.norm_groups
        self.conv_in = CausalConv3d(cfg.in_channels, widths[0])
        self.blocks = nn.ModuleList()
        ch = widths[0]
        for i, width in enumerate(widths):
            for _ in range(cfg.num_res_blocks):
                self.blocks.append(ResBlock(ch, width, g))
                ch = width
            if i < len(plan) and any(plan[i]):
                self.blocks.append(Downsample(ch, *plan[i]))
        self.mid = nn.ModuleList(
            [ResBlock(ch, ch, g)] + ([FrameAttention(ch, g)] if cfg.mid_attention else []) + [ResBlock(ch, ch, g)]
        )
        self.norm_out = PixelGroupNorm(ch, g)
        self.conv_out = CausalConv3d(ch, 2 * cfg.latent_channels)
        # log-variance starts at -6 (posterior std 0.05), not 0: noise of std 1 drowned the latent
        # signal while training sampled, and Adam lowers a bias only ~lr per step
        nn.init.constant_(self.conv_out.conv.bias[cfg.latent_channels:], -6.0)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        x = self.conv_in(x, cache)
        for block in [*self.blocks, *self.mid]:
            x = block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class Decoder(nn.Module):
    """(B, C_lat, T', H', W') latents -> (B, 3, T, H, W) video (unbounded; callers clamp)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        widths, plan, g = _widths(cfg), resample_plan(cfg), cfg.norm_groups
        ch = widths[-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, ch)
        self.mid = nn.ModuleList(
            [ResBlock(ch, ch, g)] + ([FrameAttention(ch, g)] if cfg.mid_attention else []) + [ResBlock(ch, ch, g)]
        )
        self.blocks = nn.ModuleList()
        for i in reversed(range(len(widths))):
            for _ in range(cfg.num_res_blocks + 1):
                self.blocks.append(ResBlock(ch, widths[i], g))
                ch = widths[i]
            if i > 0 and any(plan[i - 1]):
                self.blocks.append(Upsample(ch, *plan[i - 1]))
        self.norm_out = PixelGroupNorm(ch, g)
        self.conv_out = CausalConv3d(ch, cfg.in_channels)

    def forward(self, z: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        x = self.conv_in(z, cache)
        for block in [*self.mid, *self.blocks]:
            x = block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)
