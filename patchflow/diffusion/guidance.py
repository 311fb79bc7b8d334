"""Guidance as a wrapper around the model function: classifier-free, limited to an interval of t, or autoguidance.

The text-conditioned denoiser is `denoiser(x, t, frame_mask, text, text_mask) -> v`. Guidance turns it
into the sampler's `model_fn(x, t, frame_mask)`:

    v = v_ref + scale * (v_cond - v_ref)

- classifier-free guidance (the default): v_ref = v_uncond, the same model on the negative text. Both
  branches run as one batch of 2B (one model call per step, as diffusers and Wan do). The model learns the
  unconditional branch from text dropout (`flow.text_dropout`), where the caption is "".
- autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): v_ref =
  v_weak, a weaker model (an earlier checkpoint, or a smaller DiT) on the same conditional text
  (`sample.guidance_model`). A guide equal to the model gives v_cond exactly.
- guidance interval (Kynkaanniemi et al. 2024): the formula applies only while lo <= t <= hi
  (`sample.guidance_interval`); elsewhere the step takes v_cond, and the reference branch is not run.
  [0, 1] is every step: plain guidance, to the bit.

At scale 1 the formula is v_cond, so the wrapper skips the reference branch: scale 1 equals no guidance exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from patchflow.diffusion.conditioning import pad_text
from patchflow.diffusion.samplers import ModelFn

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cfg_model_fn(
    denoiser: Denoiser,
    scale: float,
    cond: tuple[torch.Tensor, torch.Tensor],
    uncond: tuple[torch.Tensor, torch.Tensor] | None = None,
    interval: Sequence[float] = (0.0, 1.0),
    guide: Denoiser | None = None,
) -> ModelFn:
    """Sampler model function that guides `denoiser` by `scale` from text `cond` away from `uncond`, or, with
    `guide`, away from the guide model on `cond` (autoguidance; `uncond` is then unused); only at the steps
    whose t lies in `interval` = (lo, hi).

    cond / uncond: (text (B, L, D), text_mask (B, L)); a batch of 1 is broadcast to the latents' batch.
    """
    text, text_mask = cond
    lo, hi = check_interval(interval)

    def conditional(x, t, frame_mask):
        return denoiser(x, t, frame_mask, _expand(text, x), _expand(text_mask, x))

    if scale == 1.0 or (uncond is None and guide is None):
        return conditional

    if guide is not None:
        def branches(x, t, frame_mask):  # two models: two calls
            weak = guide(x, t, frame_mask, _expand(text, x), _expand(text_mask, x))
            return conditional(x, t, frame_mask), weak
    else:
        length = max(text.shape[1], uncond[0].shape[1])
        text_c, mask_c = pad_text(text, text_mask, length)
        text_u, mask_u = pad_text(*uncond, length)

        def branches(x, t, frame_mask):
            both_text = torch.cat([_expand(text_c, x), _expand(text_u, x)])  # (2B, L, D)
            both_mask = torch.cat([_expand(mask_c, x), _expand(mask_u, x)])  # (2B, L)
            v = denoiser(torch.cat([x, x]), torch.cat([t, t]), torch.cat([frame_mask, frame_mask]), both_text,
                         both_mask)
            return v.chunk(2)  # (2B, ...) -> v_cond, v_uncond, each (B, ...)

    def guided(x, t, frame_mask):
        inside = (t >= lo) & (t <= hi)  # (B,): the samples whose step is guided
        if not bool(inside.any()):
            return conditional(x, t, frame_mask)
        v_cond, v_ref = branches(x, t, frame_mask)
        v = v_ref + scale * (v_cond - v_ref)
        if bool(inside.all()):
            return v
        return torch.where(inside.view(-1, *([1] * (v.dim() - 1))), v, v_cond)  # (B,) -> (B, 1, 1, 1, 1)

    return guided


def check_interval(interval: Sequence[float]) -> tuple[float, float]:
    """(lo, hi) of a guidance interval; ValueError unless it is two numbers with lo <= hi."""
    if len(interval) != 2 or not float(interval[0]) <= float(interval[1]):
        raise ValueError(f"sample.guidance_interval must be [lo, hi] with lo <= hi (times in [0, 1], 1 = noise; "
                         f"[0, 1] guides every step), got {list(interval)}")
    return float(interval[0]), float(interval[1])


def load_guide_transformer(path: str | Path, like, weights: str = "ema"):
    """The DiT in `path` for autoguidance: a model folder (its transformer/), a DiT folder (config.json and
    weights) or a training checkpoint folder (checkpoints/step_N: the `weights` "ema" or raw "model" weights in a
    DiT shaped like `like`, the model it guides). It must read the same latents and text as `like`."""
    from patchflow.models.dit import DiT

    path = Path(path)
    if (path / "model_index.json").is_file():
        model = DiT.from_pretrained(path / "transformer")
    elif (path / "config.json").is_file():
        model = DiT.from_pretrained(path)
    elif (path / f"{weights}.safetensors").is_file():
        from patchflow.train.checkpoint import load_checkpoint

        tensors = load_checkpoint(path, groups=("model", weights)).tensors
        model = DiT(like.cfg)
        model.load_state_dict({**tensors["model"], **tensors[weights]})  # EMA holds the parameters, model the rest
    else:
        raise FileNotFoundError(f"guidance model {path}: not a model folder (model_index.json), a DiT folder "
                                f"(config.json) or a training checkpoint folder ({weights}.safetensors)")
    for name in ("in_channels", "patch_size", "text_dim"):
        if getattr(model.cfg, name) != getattr(like.cfg, name):
            raise ValueError(f"guidance model {path}: dit.{name} = {getattr(model.cfg, name)} but the model it guides "
                             f"has {getattr(like.cfg, name)}; a guide must read the same latents and text")
    return model.eval()


def _expand(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a batch-1 text tensor to the latents' batch size."""
    if a.shape[0] == x.shape[0]:
        return a
    if a.shape[0] != 1:
        raise ValueError(f"text batch {a.shape[0]} does not match latent batch {x.shape[0]}")
    return a.expand(x.shape[0], *a.shape[1:])
