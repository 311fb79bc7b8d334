"""Classifier-free guidance as a wrapper around the model function.

The text-conditioned denoiser is `denoiser(x, t, frame_mask, text, text_mask) -> v`. Guidance turns it
into the sampler's `model_fn(x, t, frame_mask)`:

    v = v_uncond + scale * (v_cond - v_uncond)

Both branches run as one batch of 2B (one model call per step, as diffusers and Wan do). At scale 1 the
formula is v_cond, so the wrapper skips the unconditional branch: scale 1 equals no guidance exactly.
The model learns the unconditional branch from text dropout (`flow.text_dropout`), where the caption is "".
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from patchflow.diffusion.conditioning import pad_text
from patchflow.diffusion.samplers import ModelFn

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cfg_model_fn(
    denoiser: Denoiser,
    scale: float,
    cond: tuple[torch.Tensor, torch.Tensor],
    uncond: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ModelFn:
    """Sampler model function that guides `denoiser` by `scale` from text `cond` away from `uncond`.

    cond / uncond: (text (B, L, D), text_mask (B, L)); a batch of 1 is broadcast to the latents' batch.
    """
    text, text_mask = cond

    def conditional(x, t, frame_mask):
        return denoiser(x, t, frame_mask, _expand(text, x), _expand(text_mask, x))

    if scale == 1.0 or uncond is None:
        return conditional

    length = max(text.shape[1], uncond[0].shape[1])
    text_c, mask_c = pad_text(text, text_mask, length)
    text_u, mask_u = pad_text(*uncond, length)

    def guided(x, t, frame_mask):
        both_text = torch.cat([_expand(text_c, x), _expand(text_u, x)])  # (2B, L, D)
        both_mask = torch.cat([_expand(mask_c, x), _expand(mask_u, x)])  # (2B, L)
        v = denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([frame_mask, frame_mask]), both_text, both_mask)
        v_cond, v_uncond = v.chunk(2)  # (2B, ...) -> 2 x (B, ...)
        return v_uncond + scale * (v_cond - v_uncond)

    return guided


def _expand(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a batch-1 text tensor to the latents' batch size."""
    if a.shape[0] == x.shape[0]:
        return a
    if a.shape[0] != 1:
        raise ValueError(f"text batch {a.shape[0]} does not match latent batch {x.shape[0]}")
    return a.expand(x.shape[0], *a.shape[1:])
