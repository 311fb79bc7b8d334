"""The one training loss: noise clean latents to their times, predict the velocity, score the free frames.

    loss = rectified_flow_loss(model, x0, eps, t, frame_mask, text, text_mask, grid, patch_t)

Training (train/trainer.py: micro_loss) draws t, the frame mask, dropped text and eps at random;
validation (train/validation.py) passes fixed ones. Both call this, so they measure the same thing.
"""

from __future__ import annotations

import contextlib

import torch

from patchflow.diffusion.conditioning import latent_t, tokens_t
from patchflow.diffusion.flow import add_noise, flow_loss, velocity_target


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
) -> torch.Tensor:
    """Mean squared velocity error of `model` on x0 (B, C, T', H', W') noised with eps to times t (B,).

    frame_mask (B, T') True = conditioning frame: kept clean (t = 0) and left out of the loss.
    grid: the DiT's patch grid of x0; autocast: the context the model's forward runs in (losses stay fp32).
    """
    xt = add_noise(x0, eps, latent_t(t, frame_mask))
    t_tokens = tokens_t(t, frame_mask, grid, patch_t)  # (B, N)
    with autocast if autocast is not None else contextlib.nullcontext():
        v = model(xt, t_tokens, text, text_mask)
    return flow_loss(v, velocity_target(x0, eps), frame_mask)
