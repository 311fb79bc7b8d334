"""Exponential moving average of a model's parameters.

The shadow copies are made with `.detach().clone()`, so when the model is
sharded with FSDP2 each shadow is a DTensor with the same sharding and every
rank averages only its own shard: no gathering during training. `state_dict()`
returns full tensors (gathered when sharded) for checkpoints and model folders.

The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a
short run's EMA is not stuck at its random initialisation.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def _full(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's whole value (collective: every rank must call it); a plain tensor as is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _like(shadow: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """`full` laid out like `shadow`: sharded the same way when `shadow` is a DTensor."""
    if hasattr(shadow, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(shadow.device, shadow.dtype), shadow.device_mesh, shadow.placements)
    return full.to(shadow.device, shadow.dtype)


class EMA:
    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.shadow = {name: p.detach().clone().float() for name, p in model.named_parameters()}

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for name, p in model.named_parameters():
            # shadow <- decay * shadow + (1 - decay) * p
            self.shadow[name].lerp_(p.detach().float(), 1.0 - decay)
        self.num_updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Full (unsharded) shadow weights; collective when the model is sharded."""
        return {name: _full(t) for name, t in self.shadow.items()}

    def extra_state(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates}

    @torch.no_grad()
    def load_state_dict(self, weights: dict[str, torch.Tensor], extra: dict | None = None) -> None:
        missing = set(self.shadow) - set(weights)
        if missing:
            raise KeyError(f"EMA weights lack {sorted(missing)[:3]}")
        for name, shadow in self.shadow.items():
            shadow.copy_(_like(shadow, weights[name]))
        if extra is not None:
            self.num_updates = int(extra["num_updates"])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            p.copy_(self.shadow[name].to(p.dtype))

    @contextmanager
    def swapped(self, model: nn.Module):
        """Run the model with EMA weights inside the block; its own weights come back after."""
        backup = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(backup[name])
