"""The one training loss: noise clean latents to their times, predict the velocity, score the free frames.

    loss = rectified_flow_loss(model, x0, eps, t, frame_mask, text, text_mask, grid, patch_t, prediction="v")

The loss is always a velocity error, whatever the network predicts (`flow.prediction`):
- "v": |v_pred - (eps - x_0)|^2, the rectified-flow loss of SD3 (uniform weight over t, before the
  logit-normal sampling of t).
- "x": the network predicts x_0 and both sides become velocities over the same clamped time
  (JiT, Li & He 2025): |(x_t - x0_pred) - (x_t - x_0)|^2 / max(t, 0.05)^2 = |x0_pred - x_0|^2 / max(t, 0.05)^2.
  For t >= 0.05 that is exactly the v-loss of the implied velocity, so the two parametrisations are
  compared on one scale (the held-out val_loss of train/validation.py too); below 0.05 the weight stays
  at 400 x the x-error instead of growing as 1 / t^2, and the optimum is still x0_pred = x_0.

Training (train/trainer.py: micro_loss) draws t, the frame mask, dropped text and eps at random;
validation (train/validation.py) passes fixed ones. Both call this, so they measure the same thing.
"""

from __future__ import annotations

import contextlib

import torch

from patchflow.diffusion.conditioning import latent_t, tokens_t
from patchflow.diffusion.flow import (
    X_PRED_T_MIN,
    add_noise,
    check_prediction,
    flow_loss,
    velocity_from_x0,
    velocity_target,
)


def rectified_flow_loss(
    model,
    x0: torch.Tensor,
    eps: torch.Tensor,
    t: torch.Tensor,
    frame_mask: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    grid: tuple[int, int, int],
    patch_t: int,
    autocast: contextlib.AbstractContextManager | None = None,
    prediction: str = "v",
) -> torch.Tensor:
    """Mean squared velocity error of `model` on x0 (B, C, T', H', W') noised with eps to times t (B,).

    frame_mask (B, T') True = conditioning frame: kept clean (t = 0) and left out of the loss.
    grid: the DiT's patch grid of x0; autocast: the context the model's forward runs in (losses stay fp32).
    prediction: what the model outputs, "v" or "x" (the module docstring gives the loss of each).
    """
    check_prediction(prediction)
    t_latent = latent_t(t, frame_mask)  # (B, 1, T', 1, 1)
    xt = add_noise(x0, eps, t_latent)
    t_tokens = tokens_t(t, frame_mask, grid, patch_t)  # (B, N)
    with autocast if autocast is not None else contextlib.nullcontext():
        out = model(xt, t_tokens, text, text_mask)
    if prediction == "v":
        return flow_loss(out, velocity_target(x0, eps), frame_mask)
    v_pred = velocity_from_x0(xt, out, t_latent, X_PRED_T_MIN)
    v_target = velocity_from_x0(xt, x0, t_latent, X_PRED_T_MIN)  # = eps - x0 wherever t >= X_PRED_T_MIN
    return flow_loss(v_pred, v_target, frame_mask)
