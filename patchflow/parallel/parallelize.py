"""Parallelism applied to a model from outside (torchtitan style).

Order matters and follows torchtitan: sequence parallelism splits the tokens
(sequence_dit.py), activation checkpointing and compile wrap each transformer
block, then FSDP2 shards each block and finally the root (so a block's
parameters are gathered just before it runs and freed after), or DDP wraps the
whole model. The model's own code never changes, and parameter names stay as
they were (all of these patch in place rather than wrapping), so checkpoints
move freely between none, ddp and fsdp and between layouts of the mesh.

    layout = build_layout(cfg.train, info, cfg.dit.heads)        # mesh.py: the degrees, checked
    train_model = parallelize(model, cfg.train, info, layout)    # call train_model(...) in the loop
    full = model_state_dict(model)                               # full weights on rank 0 (collective)

Gradients are averaged over every process (data-parallel and sequence dims
alike); with `parallel: none` on several processes that is done by DDP, since
unsynchronised copies would drift apart.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.utils.checkpoint import checkpoint

from patchflow.parallel.mesh import DistInfo, Layout, build_layout, device_mesh, is_distributed

MODES = ("none", "ddp", "fsdp")


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The repeated blocks that checkpointing, compile and FSDP units work on."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise TypeError(f"{type(model).__name__} has no `blocks` ModuleList to parallelize")
    return blocks


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each block's activations in backward: memory of one block instead of all."""
    for block in transformer_blocks(model):
        inner = block.forward

        def forward(*args, _inner=inner, **kwargs):
            return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

        block.forward = forward  # an instance attribute: names and state dict keys unchanged


def apply_compile(model: nn.Module) -> None:
    """torch.compile each block in place (one graph reused by every block of the same shape)."""
    for block in transformer_blocks(model):
        block.compile()


def apply_fsdp(model: nn.Module, info: DistInfo, param_dtype: torch.dtype | None = None, mesh=None) -> None:
    """FSDP2: shard each block, then the root (embeddings, final layer); `mesh` default: all processes, 1-D."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = mesh if mesh is not None else device_mesh(info.device)
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    blocks = transformer_blocks(model)
    for i, block in enumerate(blocks):
        # The last block's parameters are needed again at once by backward: keep them gathered.
        fully_shard(block, mesh=mesh, mp_policy=mp, reshard_after_forward=i < len(blocks) - 1)
    fully_shard(model, mesh=mesh, mp_policy=mp)


def apply_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def parallelize(model: nn.Module, train_cfg, info: DistInfo, layout: Layout | None = None) -> nn.Module:
    """Apply cfg.train's sequence parallel / AC / compile / parallel mode; returns the module to call for training.

    `layout` (mesh.build_layout) is built from train_cfg when not given.
    """
    mode = train_cfg.parallel
    if mode not in MODES:
        raise ValueError(f"train.parallel must be one of {MODES}, got {mode!r}")
    if layout is None:
        layout = build_layout(train_cfg, info, getattr(getattr(model, "cfg", None), "heads", None))
    if layout.sp > 1:
        from patchflow.parallel.sequence_dit import apply_sequence_parallel_dit

        apply_sequence_parallel_dit(model, layout.sp_group())
    if train_cfg.activation_checkpointing:
        apply_activation_checkpointing(model)
    if train_cfg.compile:
        apply_compile(model)
    if layout.world_size == 1 or not is_distributed():
        return model  # one process: nothing to shard or replicate
    if mode == "fsdp":
        bf16 = info.device.type == "cuda" and train_cfg.precision in ("auto", "bf16")
        apply_fsdp(model, info, param_dtype=torch.bfloat16 if bf16 else None, mesh=layout.fsdp_mesh())
        return model
    return apply_ddp(model, info)  # ddp, or none on several processes: the gradients must still be averaged


@contextlib.contextmanager
def grad_sync(train_model: nn.Module, enabled: bool):
    """Skip the gradient all-reduce on accumulation micro-steps that are not the last one."""
    if enabled or not is_distributed():
        yield
    elif hasattr(train_model, "no_sync"):  # DDP
        with train_model.no_sync():
            yield
    elif hasattr(train_model, "set_requires_gradient_sync"):  # FSDP2
        train_model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            train_model.set_requires_gradient_sync(True)
    else:
        yield


# ----------------------------------------------------------------------------- full state dicts

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def _sharded(model: nn.Module) -> bool:
    return any(hasattr(p, "device_mesh") for p in model.parameters())


def model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full weights (gathered when sharded; then only rank 0 gets them, others an empty dict)."""
    if not _sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return get_model_state_dict(model, options=_FULL)


def load_model_state_dict(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load full weights into a plain or sharded model (every rank passes the full dict)."""
    if not _sharded(model):
        model.load_state_dict(weights)
        return
    set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))


def optimizer_state_dict(model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """Full optimizer state keyed by parameter name, the same layout for none, ddp and fsdp."""
    if not _sharded(model) and not is_distributed():
        return get_optimizer_state_dict(model, opt)
    return get_optimizer_state_dict(model, opt, options=_FULL)


def load_optimizer_state_dict(model: nn.Module, opt: torch.optim.Optimizer, state: dict) -> None:
    set_optimizer_state_dict(model, opt, state, options=StateDictOptions(full_state_dict=True))
