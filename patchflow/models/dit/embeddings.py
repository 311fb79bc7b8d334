"""What goes into the DiT: spacetime patches, the timestep, and 3D rotary positions.

Positions are never a learned table: RoPE angles are computed from the patch
grid at run time, so a model trained on 16x16 latents runs on 24x40 ones (or
more frames) with nothing to interpolate.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from einops import rearrange

# ----------------------------------------------------------------------------- patches


def patch_grid(shape: tuple[int, ...], patch: tuple[int, int, int]) -> tuple[int, int, int]:
    """(T/p_t, H/p_h, W/p_w) for a (B, C, T, H, W) shape; ValueError naming the sizes if not divisible."""
    T, H, W = shape[-3:]
    bad = [f"{n}={s} % {p} != 0" for n, s, p in zip("THW", (T, H, W), patch, strict=True) if s % p]
    if bad:
        raise ValueError(
            f"latent grid (T, H, W) = {(T, H, W)} is not divisible by patch size {tuple(patch)}: {', '.join(bad)}"
        )
    return T // patch[0], H // patch[1], W // patch[2]


def patchify(x: torch.Tensor, patch: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, C * p_t * p_h * p_w), tokens in (t, h, w) order."""
    patch_grid(x.shape, patch)
    pt, ph, pw = patch
    # (B, C, T, H, W) -> (B, N, C*pt*ph*pw)
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)


def unpatchify(x: torch.Tensor, grid: tuple[int, int, int], patch: tuple[int, int, int]) -> torch.Tensor:
    """(B, N, C * p_t * p_h * p_w) -> (B, C, T, H, W): the inverse of `patchify`."""
    (t, h, w), (pt, ph, pw) = grid, patch
    # (B, N, C*pt*ph*pw) -> (B, C, T, H, W)
    return rearrange(x, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w, pt=pt, ph=ph, pw=pw)


# ----------------------------------------------------------------------------- timestep


def sinusoidal(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) times in [0, 1] -> (..., dim) sin/cos features (t scaled by 1000 as in DDPM-style DiTs)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = (t.float() * 1000.0)[..., None] * freqs  # (..., half)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)  # (..., dim)


class TimestepEmbedder(nn.Module):
    """t -> sinusoidal features -> MLP -> (..., D)."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = nn.Linear(freq_dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        for fc in (self.fc1, self.fc2):
            nn.init.normal_(fc.weight, std=0.02)
            nn.init.zeros_(fc.bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h = sinusoidal(t, self.freq_dim).to(self.fc1.weight.dtype)
        return self.fc2(nn.functional.silu(self.fc1(h)))


# ----------------------------------------------------------------------------- 3D RoPE


def rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Split the head dim between (t, h, w): h and w get 2 * (Dh // 6) each, t the rest (as Wan)."""
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3D RoPE needs an even head dim >= 6, got {head_dim}")
    d_hw = 2 * (head_dim // 6)
    return head_dim - 2 * d_hw, d_hw, d_hw


def rope_freqs(
    grid: tuple[int, int, int],
    head_dim: int,
    theta: float = 10000.0,
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(cos, sin) of each token's rotation angles, shape (N, 1, Dh/2, 2), tokens in (t, h, w) order.

    `offset` shifts every position (e.g. a window that starts at latent frame 8);
    attention scores depend only on position differences, so any offset gives
    the same scores.
    """
    T, H, W = grid
    angles = []
    for n, d, off in zip(grid, rope_axes(head_dim), offset, strict=True):
        pos = torch.arange(n, device=device, dtype=torch.float64) + off  # (n,)
        inv_freq = theta ** (-torch.arange(0, d, 2, device=device, dtype=torch.float64) / d)  # (d/2,)
        angles.append(torch.outer(pos, inv_freq))  # (n, d/2)
    at = angles[0][:, None, None, :].expand(T, H, W, -1)  # (T, d_t/2) -> (T, H, W, d_t/2)
    ah = angles[1][None, :, None, :].expand(T, H, W, -1)  # (H, d_h/2) -> (T, H, W, d_h/2)
    aw = angles[2][None, None, :, :].expand(T, H, W, -1)  # (W, d_w/2) -> (T, H, W, d_w/2)
    ang = torch.cat([at, ah, aw], dim=-1).reshape(T * H * W, 1, head_dim // 2)  # (T, H, W, Dh/2) -> (N, 1, Dh/2)
    return torch.stack([ang.cos(), ang.sin()], dim=-1).float()  # (N, 1, Dh/2, 2); angles in float64: exact offsets


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of x (B, N, H, Dh) by the angles of `freqs` (N, 1, Dh/2, 2).

    Eager: one complex multiply (a single elementwise kernel forward and one
    backward). Under torch.compile the real-valued form, which inductor fuses
    (it generates no code for complex numbers).
    """
    pairs = x.float().unflatten(-1, (-1, 2))  # (B, N, H, Dh) -> (B, N, H, Dh/2, 2)
    if torch.compiler.is_compiling():
        (x0, x1), (cos, sin) = pairs.unbind(-1), freqs.unbind(-1)
        out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)  # (B, N, H, Dh/2, 2)
    else:
        out = torch.view_as_real(torch.view_as_complex(pairs) * torch.view_as_complex(freqs))  # (B, N, H, Dh/2, 2)
    return out.flatten(-2).type_as(x)  # (B, N, H, Dh/2, 2) -> (B, N, H, Dh)
