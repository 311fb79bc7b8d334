"""Samplers: free functions with one signature, from noise (t = 1) to data (t = 0).

    sampler(model_fn, x, ts, cond_mask, x_cond, callback=None, noise=None) -> x at ts[-1]

- `model_fn(x, t, frame_mask) -> v`: x (B, C, T, H, W) latents, t (B,) the time of the free frames,
  frame_mask (B, T) bool, the latent frames held clean (their tokens get t = 0, see
  `conditioning.tokens_t`). v is the rectified-flow velocity eps - x0.
- `ts`: decreasing times, `timesteps(steps, shift)` or a tail of it (SDEdit starts below 1).
- `cond_mask` (B, T): False/0 = free frame; True/1 = held at `x_cond` all the way; a float strength
  s in (0, 1) holds the frame while t > 1 - s, then releases it into the flow at the current noise
  level (a soft keyframe: it steers the early, layout-forming steps only).
- `callback(info)` gets {"i", "t", "t_next", "x", "denoised"} after every step; a tensor it returns
  replaces x (that is how `callback_on_step_end` edits latents).

The flow is x_t = (1 - t) x0 + t eps, so dx/dt = v and an Euler step is x += (t_next - t) v:
a constant velocity field is integrated exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from patchflow.diffusion.flow import shift_t

ModelFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def timesteps(steps: int, shift: float = 1.0, start: float = 1.0) -> torch.Tensor:
    """(n + 1,) times from `start` down to 0 on the shifted grid (shift > 1 spends more steps near noise).

    `start` < 1 (SDEdit) keeps the grid points below `start` and begins exactly at `start`, so the
    step sizes stay those of the full schedule; start = 0 gives [0]: no steps at all.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    grid = shift_t(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)
    grid[0], grid[-1] = 1.0, 0.0  # exact ends: the shift formula rounds 1 to 1 + 2e-16 for some shifts
    if start >= 1.0:
        return grid
    below = grid[grid < start]
    return torch.cat([torch.tensor([start], dtype=grid.dtype), below])


def held_frames(cond_mask: torch.Tensor, t: float) -> torch.Tensor:
    """(B, T) bool: frames kept clean at time t (strength s holds while t > 1 - s)."""
    if cond_mask.dtype == torch.bool:
        return cond_mask
    return (cond_mask >= 1.0) | (cond_mask > 1.0 - t)


def _impose(x, x_cond, hold):
    """Held frames take the clean condition."""
    if x_cond is None:
        return x
    keep = hold[:, None, :, None, None]  # (B, 1, T, 1, 1) broadcast over C, H, W
    return torch.where(keep, x_cond.to(x.dtype), x)


def _released(prev_hold, hold, x, x_cond, noise, t):
    """Frames that stop being held re-enter the flow as (1 - t) x_cond + t eps."""
    if x_cond is None or prev_hold is None:
        return x
    newly_free = (prev_hold & ~hold)[:, None, :, None, None]  # (B, 1, T, 1, 1)
    if not bool(newly_free.any()):
        return x
    noised = (1.0 - t) * x_cond.to(x.dtype) + t * noise
    return torch.where(newly_free, noised, x)


def _step_loop(step_fn, model_fn, x, ts, cond_mask, x_cond, callback, noise):
    """The loop every sampler shares; `step_fn` moves x from t to t_next given v at t."""
    b, _, frames = x.shape[:3]
    if cond_mask is None:
        cond_mask = torch.zeros(b, frames, dtype=torch.bool, device=x.device)
    cond_mask = cond_mask.to(x.device)
    noise = x.clone() if noise is None else noise.to(x)
    prev_hold = None
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        hold = held_frames(cond_mask, t)
        x = _released(prev_hold, hold, x, x_cond, noise, t)
        x = _impose(x, x_cond, hold)
        x, denoised = step_fn(model_fn, x, t, t_next, hold, x_cond)
        x = _impose(x, x_cond, hold)
        prev_hold = hold
        if callback is not None:
            out = callback({"i": i, "t": t, "t_next": t_next, "x": x, "denoised": denoised})
            if isinstance(out, torch.Tensor):
                x = out
    if x_cond is not None:  # also covers an empty schedule (SDEdit at strength 0)
        x = _impose(x, x_cond, held_frames(cond_mask, float(ts[-1])))
    return x


def _t_batch(x: torch.Tensor, t: float) -> torch.Tensor:
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.float32)


def _euler_step(model_fn, x, t, t_next, hold, x_cond):
    v = model_fn(x, _t_batch(x, t), hold)
    denoised = x - t * v  # x0 estimate: x_t - t (eps - x0) = x0 on the straight path
    return x + (t_next - t) * v, denoised


def _heun_step(model_fn, x, t, t_next, hold, x_cond):
    v = model_fn(x, _t_batch(x, t), hold)
    denoised = x - t * v
    x_euler = x + (t_next - t) * v
    if t_next == 0.0:  # the corrector would evaluate the model at t = 0: plain Euler for the last step
        return x_euler, denoised
    if x_cond is not None:
        x_euler = _impose(x_euler, x_cond, hold)
    v_next = model_fn(x_euler, _t_batch(x, t_next), hold)
    return x + (t_next - t) * 0.5 * (v + v_next), denoised


def euler(model_fn: ModelFn, x, ts, cond_mask=None, x_cond=None, callback=None, noise=None) -> torch.Tensor:
    """First-order: one model call per step."""
    return _step_loop(_euler_step, model_fn, x, ts, cond_mask, x_cond, callback, noise)


def heun(model_fn: ModelFn, x, ts, cond_mask=None, x_cond=None, callback=None, noise=None) -> torch.Tensor:
    """Second-order (trapezoid) predictor-corrector: two model calls per step, Euler on the last."""
    return _step_loop(_heun_step, model_fn, x, ts, cond_mask, x_cond, callback, noise)


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"euler": euler, "heun": heun}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
