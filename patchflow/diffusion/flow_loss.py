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
from patchflow.models.dit.embeddings import patchify


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
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared velocity error of `model` on x0 (B, C, T', H', W') noised with eps to times t (B,).

    frame_mask (B, T') True = conditioning frame: kept clean (t = 0) and left out of the loss.
    grid: the DiT's patch grid of x0; autocast: the context the model's forward runs in (losses stay fp32).
    prediction: what the model outputs, "v" or "x" (the module docstring gives the loss of each).
    keep: (N_keep,) token indices (train/token_mask.py): the model sees only these tokens and the loss is theirs.
    """
    check_prediction(prediction)
    t_latent = latent_t(t, frame_mask)  # (B, 1, T', 1, 1)
    xt = add_noise(x0, eps, t_latent)
    t_tokens = tokens_t(t, frame_mask, grid, patch_t)  # (B, N)
    with autocast if autocast is not None else contextlib.nullcontext():
        out = model(xt, t_tokens, text, text_mask) if keep is None else model(xt, t_tokens, text, text_mask, keep)
    if keep is not None:
        return _kept_tokens_loss(out, x0, eps, xt, t_tokens, frame_mask, grid, patch_t, keep, prediction)
    if prediction == "v":
        return flow_loss(out, velocity_target(x0, eps), frame_mask)
    v_pred = velocity_from_x0(xt, out, t_latent, X_PRED_T_MIN)
    v_target = velocity_from_x0(xt, x0, t_latent, X_PRED_T_MIN)  # = eps - x0 wherever t >= X_PRED_T_MIN
    return flow_loss(v_pred, v_target, frame_mask)


def _kept_tokens_loss(out, x0, eps, xt, t_tokens, frame_mask, grid, patch_t, keep, prediction) -> torch.Tensor:
    """The velocity error over the kept tokens of free frames: out (B, N_keep, P) patches of the kept tokens.

    Every frame keeps the same count of tokens, so the mean over kept free tokens weighs frames as flow_loss does.
    """
    patch = (patch_t, x0.shape[3] // grid[1], x0.shape[4] // grid[2])
    xt_kept = patchify(xt, patch)[:, keep]  # (B, C, T', H', W') -> (B, N, P) -> (B, N_keep, P)
    t_kept = t_tokens[:, keep, None]  # (B, N) -> (B, N_keep, 1)
    if prediction == "v":
        v_pred, v_target = out, patchify(velocity_target(x0, eps), patch)[:, keep]
    else:
        v_pred = velocity_from_x0(xt_kept, out, t_kept, X_PRED_T_MIN)
        v_target = velocity_from_x0(xt_kept, patchify(x0, patch)[:, keep], t_kept, X_PRED_T_MIN)
    err = (v_pred.float() - v_target.float()).pow(2).mean(dim=-1)  # (B, N_keep)
    # a token counts as conditioning when every latent frame it spans is (tokens_t gives it t = 0 then)
    B, T_lat = frame_mask.shape
    cond_token = frame_mask.view(B, grid[0], patch_t).all(dim=-1)  # (B, T_lat) -> (B, Tg)
    free = (~cond_token)[:, :, None].expand(B, grid[0], grid[1] * grid[2]).reshape(B, -1)[:, keep]  # (B, N_keep)
    free = free.to(err.dtype)
    return (err * free).sum() / free.sum().clamp_min(1.0)
