"""Rectified flow: the straight path between data and noise, and how training picks its times.

    x_t = (1 - t) x_0 + t eps,   t in [0, 1] (0 = clean, 1 = noise)
    v   = dx_t/dt = eps - x_0    (what the DiT predicts)
    x_0 = x_t - t v,  eps = x_t + (1 - t) v

What the network outputs is `flow.prediction`: "v" (the velocity itself) or "x" (the clean latent x_0,
JiT: Li & He 2025, "Back to Basics"), turned into a velocity v = (x_t - x_0) / t by `model_velocity`, so
the samplers and the loss only ever see velocities (see `velocity_from_x0` for the small-t guard).

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


PREDICTIONS = ("v", "x")
# x-prediction's loss divides by t (below): JiT clamps that divisor at 0.05, which caps the weight of the
# few training times near t = 0 at 1 / 0.05^2 = 400 instead of letting it grow without bound
X_PRED_T_MIN = 0.05
# sampling never evaluates free frames at t = 0 (the last step ends there); frames held clean sit at t = 0 and
# are overwritten after every step, so this floor only keeps their (unused) velocity finite
SAMPLING_T_FLOOR = 1e-4


def check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"flow.prediction must be one of {', '.join(PREDICTIONS)} (v: the network predicts the "
                         f"velocity eps - x_0; x: the clean latent x_0), got {prediction!r}")


def velocity_from_x0(xt: torch.Tensor, x0: torch.Tensor, t_latent: torch.Tensor, t_min: float) -> torch.Tensor:
    """v = (x_t - x_0) / max(t, t_min): the velocity that points from x_t back to x_0 (exact for t >= t_min).

    On the straight path x_t - x_0 = t (eps - x_0), so for t >= t_min this is the true velocity eps - x_0.
    Computed in float32 whatever the network's precision: the division amplifies rounding by 1 / t.
    """
    t = _bcast(t_latent, xt).float().clamp_min(t_min)
    return (xt.float() - x0.float()) / t


def model_velocity(output: torch.Tensor, xt: torch.Tensor, t_latent: torch.Tensor, prediction: str) -> torch.Tensor:
    """The velocity a network's `output` stands for when sampling: itself ("v"), or from the predicted x_0 ("x")."""
    check_prediction(prediction)
    if prediction == "v":
        return output
    return velocity_from_x0(xt, output, t_latent, SAMPLING_T_FLOOR)


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
