"""Small building blocks of the DiT: norms, the MLP, adaLN modulation.

Norms compute in float32 and cast back, so bf16 training keeps its statistics
exact; on fp32 inputs the casts are no-ops (no copies).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last dim (used for QK-norm: keeps attention logits bounded)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).type_as(x)


class LayerNorm(nn.Module):
    """LayerNorm in float32; `affine=False` before adaLN, whose shift/scale replace the affine."""

    def __init__(self, dim: int, affine: bool = False, eps: float = 1e-6):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None
        self.bias = nn.Parameter(torch.zeros(dim)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), (self.dim,), w, b, self.eps).type_as(x)


class MLP(nn.Module):
    """Linear -> GELU(tanh) -> Linear, the transformer feed-forward."""

    def __init__(self, dim: int, hidden: int, out: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: x * (1 + scale) + shift, per group of tokens that share a time.

    x (B, G, N/G, D): the N tokens in G groups of consecutive tokens; shift / scale (B, G, 1, D), one row per
    group, broadcast over its tokens. G = 1 (one time per sample), T' (one per latent frame) or N (per token).
    """
    return torch.addcmul(shift, x, 1 + scale)


class AdaLNSingle(nn.Module):
    """adaLN-single (PixArt-alpha): ONE modulation MLP for the whole network.

    A timestep embedding (..., D) becomes (..., 6, D) once: (U, D) -> (U, 6, D) for the U distinct times of
    the batch, gathered to (B, G, 6, D) for G groups of tokens (G = 1, T' or N; DiT.time_conditioning), or
    (B, N, D) -> (B, N, 6, D) when times differ per token. Each block adds its own learned (6, D) bias.
    Modulation thus costs one D x 6D matmul per distinct time for the whole model instead of one per block.
    Zero-initialised, so every gate starts at 0 and each block starts as the
    identity (adaLN-zero).
    """

    def __init__(self, dim: int, n_mod: int = 6):
        super().__init__()
        self.n_mod = n_mod
        self.linear = nn.Linear(dim, n_mod * dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, temb: torch.Tensor) -> torch.Tensor:
        out = self.linear(F.silu(temb))  # (..., D) -> (..., 6D)
        return out.unflatten(-1, (self.n_mod, -1))  # (..., 6D) -> (..., 6, D)
