"""AdamW with decay only on matrices, and the learning-rate schedules: linear warmup, then cosine or WSD.

WSD (warmup-stable-decay; Hagele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed
Training Durations") holds the lr constant and decays it linearly to 0 over the last `decay_fraction` of the
steps. Up to the decay the lr does not depend on the run's length, so a checkpoint of the stable phase at
step k is also a checkpoint of a run of k / (1 - decay_fraction) steps: resumed with that many steps
(`patchflow train --branch-from CKPT`) it finishes a complete shorter run for the price of its decay alone.

Weight decay pulls weights toward zero; on norms' gains, biases and other 1-dim
parameters that only shifts or rescales activations and hurts, so parameters
with fewer than 2 dimensions are left undecayed (nanoGPT's rule).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(
    model: nn.Module, lr: float, betas: tuple[float, float] | list[float], weight_decay: float
) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))


SCHEDULES = ("cosine", "wsd")


def decay_start(total: int, decay_fraction: float) -> int:
    """WSD: the first step of the decay (the stable phase is the steps before it)."""
    return total - round(decay_fraction * total)


def branch_steps(step: int, decay_fraction: float) -> int:
    """WSD: the length of the complete run whose decay starts at `step` (a stable-phase checkpoint's branch)."""
    return round(step / (1.0 - decay_fraction))


def lr_factor(step: int, warmup: int, total: int, min_ratio: float = 0.0, schedule: str = "cosine",
              decay_fraction: float = 0.2) -> float:
    """Multiplier of the base lr at optimizer step `step` (0-based)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup  # never 0: the first step already learns
    if schedule == "wsd":
        start = max(warmup, decay_start(total, decay_fraction))
        progress = min(1.0, max(0, step - start) / max(1, total - start))
        return min_ratio + (1.0 - min_ratio) * (1.0 - progress)
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class _Schedule:
    """A picklable-free callable: LambdaLR saves callable objects' __dict__ (plain values here)."""

    def __init__(self, warmup: int, total: int, min_ratio: float, schedule: str = "cosine",
                 decay_fraction: float = 0.2):
        lr_factor(0, warmup, total, min_ratio, schedule, decay_fraction)  # an unknown schedule fails here
        self.warmup, self.total, self.min_ratio = warmup, total, min_ratio
        self.schedule, self.decay_fraction = schedule, decay_fraction

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.warmup, self.total, self.min_ratio, self.schedule, self.decay_fraction)


def build_scheduler(
    opt: torch.optim.Optimizer, warmup: int, total: int, min_ratio: float = 0.0, schedule: str = "cosine",
    decay_fraction: float = 0.2,
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, _Schedule(warmup, total, min_ratio, schedule, decay_fraction))


def load_scheduler_state(sched: torch.optim.lr_scheduler.LambdaLR, state: dict) -> None:
    """Resume the schedule at the saved step, in the shape the config gives now.

    LambdaLR.load_state_dict would also restore the old base lr, warmup and total, so a run resumed
    with more `steps` would sit at lr 0 past the old end. The step count comes from the checkpoint;
    lr, warmup and total from the config (unchanged config: the same lr as an uninterrupted run).
    Call it after the optimizer's state is loaded: it sets the param groups' lr for the next step.
    """
    shapes = [dict(fn.__dict__) for fn in sched.lr_lambdas]
    base_lrs = list(sched.base_lrs)
    sched.load_state_dict(state)
    sched.base_lrs = base_lrs
    for fn, shape in zip(sched.lr_lambdas, shapes, strict=True):
        fn.__dict__.update(shape)
    for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True):
        group["lr"] = base * fn(sched.last_epoch)
    sched._last_lr = [group["lr"] for group in sched.optimizer.param_groups]
