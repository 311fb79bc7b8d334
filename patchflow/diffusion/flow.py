"""Rectified flow: the straight path between data and noise, and how training picks its times.

    x_t = (1 - t) x_0 + t eps,   t in [0, 1] (0 = clean, 1 = noise)
    v   = dx_t/dt = eps - x_0    (what the DiT predicts)
    x_0 = x_t - t v,  eps = x_t + (1 - t) v

Training times are logit-normal (SD3: most weight on the middle of the path),
then shifted toward noise for larger samples: more tokens carry more redundant
signal, so the same t destroys less of the picture and training must spend
more time at high noise. The sampler reuses the same shift (`shift_for_tokens`).
"""

from __future__ import annotations

import math

import torch

from patchflow.config import FlowConfig


def shift_for_tokens(n_tokens: int, flow_cfg: FlowConfig) -> float:
    """s = shift_base * sqrt(n_tokens / shift_base_tokens), capped at shift_max."""
    if n_tokens <= 0:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}")
    s = flow_cfg.shift_base * math.sqrt(n_tokens / flow_cfg.shift_base_tokens)
    return float(min(s, flow_cfg.shift_max))


def shift_t(t, shift: float):
    """SD3's time shift t' = s t / (1 + (s - 1) t): s > 1 moves t toward noise; 0 and 1 stay fixed."""
    return shift * t / (1 + (shift - 1) * t)


def sample_t(
    batch: int,
    n_tokens: int,
    flow_cfg: FlowConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B,) training times: sigmoid(N(logit_mean, logit_std)), shifted for `n_tokens`, strictly in (0, 1)."""
    device = device if device is not None else (generator.device if generator is not None else "cpu")
    u = torch.randn(batch, generator=generator, device=device) * flow_cfg.logit_std + flow_cfg.logit_mean
    t = shift_t(torch.sigmoid(u), shift_for_tokens(n_tokens, flow_cfg))
    return t.clamp(1e-5, 1 - 1e-5)  # sigmoid rounds to exactly 0 or 1 in the far tails


def _bcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1, 1); a (B, 1, T, 1, 1) per-frame time passes through."""
    t = t.to(x.dtype)
    return t.view(-1, *([1] * (x.dim() - 1))) if t.dim() == 1 else t


def add_noise(x0: torch.Tensor, eps: torch.Tensor, t_latent: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_0 + t eps; t is (B,) or per latent frame (B, 1, T, 1, 1) (see conditioning.latent_t)."""
    t = _bcast(t_latent, x0)
    return torch.lerp(x0, eps, t)  # x0 + t (eps - x0)


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The regression target v = eps - x_0 (constant along the straight path)."""
    return eps - x0


def x0_from_velocity(xt: torch.Tensor, v: torch.Tensor, t_latent: torch.Tensor) -> torch.Tensor:
    """x_0 = x_t - t v: the clean sample a velocity points back to."""
    return xt - _bcast(t_latent, xt) * v


def eps_from_velocity(xt: torch.Tensor, v: torch.Tensor, t_latent: torch.Tensor) -> torch.Tensor:
    """eps = x_t + (1 - t) v."""
    return xt + (1 - _bcast(t_latent, xt)) * v


def flow_loss(v_pred: torch.Tensor, v_target: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared velocity error over the free (unconditioned) latent frames only.

    frame_mask (B, T) bool, True = conditioning frame (clean, t = 0): its
    target is known input, so it carries no loss.
    """
    err = (v_pred.float() - v_target.float()).pow(2)  # (B, C, T, H, W)
    if frame_mask is None:
        return err.mean()
    free = (~frame_mask).to(err.dtype)[:, None, :, None, None]  # (B, T) -> (B, 1, T, 1, 1)
    per_frame = err.mean(dim=(1, 3, 4), keepdim=True)  # (B, 1, T, 1, 1)
    return (per_frame * free).sum() / free.sum().clamp_min(1.0)
