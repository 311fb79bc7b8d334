"""A DiT whose blocks run on this process's slice of the tokens (Ulysses sequence parallelism), from outside.

    apply_sequence_parallel_dit(dit, group)   # every process of `group` calls dit(x, t, text, mask) as before

Each process of the group is given the whole input and returns the whole output, so the trainer, the
loss and the sampler need no change. In between, per process of P:

    DiT.embed (all N tokens: one linear layer)        -> tokens (B, N, D), rope (N, ...), mod (B, G, 6, D)
    keep my contiguous N/P tokens, their RoPE rows and their time groups
    the blocks, self-attention wrapped by Ulysses      (B, N/P, D); two all-to-alls per block
    DiT.head on my tokens, all-gather                  (B, N/P, patch) -> (B, N, patch) -> unpatchify

When P does not divide N, the sequence is padded at its end to a multiple of P: the padding tokens are
zeros, attention never sees them (sequence_parallel.RealTokens) and the gather cuts them off, so the
output equals one process's for every N.

Gradients: every process computes the same loss on the gathered output, and the gather's backward sums
the P copies of its gradient, so each process's parameter gradients come out P times its share. Averaged
over all processes (DDP or FSDP over the data-parallel and the sequence dims, parallelize.py), that is
exactly the one-process gradient of the data-parallel mean loss.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from patchflow.models.dit.embeddings import unpatchify
from patchflow.parallel.sequence_parallel import RealTokens, apply_sequence_parallel, gather_sequence


def local_span(n_tokens: int, world: int, rank: int) -> tuple[int, int]:
    """(first token, tokens per process) of `rank`'s contiguous slice; the last slices may run into padding."""
    per_rank = -(-n_tokens // world)  # ceil: pad the sequence to a multiple of the group size
    return rank * per_rank, per_rank


def padded_slice(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """x[start : start + length] along `dim`, zero-padded at the end where it runs past x."""
    piece = x.narrow(dim, min(start, x.shape[dim]), max(0, min(length, x.shape[dim] - start)))
    missing = length - piece.shape[dim]
    if missing:
        pad = [0, 0] * (x.dim() - 1 - dim) + [0, missing]  # F.pad lists the last dim first
        piece = F.pad(piece, pad)
    return piece


def group_rows(groups: int, n_tokens: int, start: int, length: int) -> torch.Tensor:
    """Rows of a (B, G, ...) time-group tensor for tokens [start, start + length), as a (G_local,) index.

    Group g covers tokens [g N/G, (g+1) N/G). When this slice meets its groups in runs of equal length
    (G = 1, or slices that fall on group edges), one row per run keeps the blocks' broadcast; otherwise
    one row per token (G_local = length). Padding tokens take the last real token's group.
    """
    per_group = n_tokens // groups
    token_group = torch.arange(start, start + length).clamp(max=n_tokens - 1) // per_group  # (length,)
    runs = torch.unique_consecutive(token_group)
    if length % len(runs) == 0:
        by_run = token_group.view(len(runs), -1)  # (G_local, length / G_local)
        if bool((by_run == by_run[:, :1]).all()):
            return by_run[:, 0]
    return token_group


def broadcast_from_first(tensors: list[torch.Tensor], group) -> list[torch.Tensor]:
    """Copies of the group's first process's tensors on every process (no gradient: for sampling)."""
    src = dist.get_global_rank(group, 0) if group is not None else 0
    out = []
    for x in tensors:
        y = x.detach().to(torch.uint8 if x.dtype == torch.bool else x.dtype).contiguous().clone()  # gloo: no bool
        dist.broadcast(y, src=src, group=group)
        out.append(y.to(x.dtype))
    return out


def sequence_parallel_forward(model, group, real: RealTokens, x, t, text, text_mask) -> torch.Tensor:
    """DiT.forward with the blocks on this process's tokens; every process returns the whole (B, C, T, H, W)."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    s = model.embed(x, t, text, text_mask)
    n = s.tokens.shape[1]
    start, length = local_span(n, world, rank)
    real.count = n  # the wrapped attentions cut the padding past n
    h = padded_slice(s.tokens, 1, start, length)  # (B, N, D) -> (B, N/P, D)
    rope = padded_slice(s.rope, 0, start, length)  # (N, 1, Dh/2, 2) -> (N/P, 1, Dh/2, 2)
    rows = group_rows(s.mod.shape[1], n, start, length).to(s.mod.device)
    mod, temb = s.mod[:, rows], s.temb[:, rows]  # (B, G_local, 6, D), (B, G_local, D)
    for block in model.blocks:
        h = block(h, mod, s.text, s.text_mask, rope)
    out = gather_sequence(model.head(h, temb), 1, group)[:, :n]  # (B, N/P, patch) -> (B, N, patch)
    return unpatchify(out, s.grid, model.patch).to(x.dtype)


def apply_sequence_parallel_dit(model, group=None, broadcast_inputs: bool = False) -> None:
    """Make `model(x, t, text, text_mask)` split its tokens over `group` (None = all processes).

    The model's forward is replaced on the instance (as activation checkpointing replaces each block's):
    names and the state dict are unchanged, and FSDP2 / DDP hooks still run around the call.
    `broadcast_inputs`: every call takes the first process's inputs (sampling: processes whose latents
    differ in the last bit still compute one video); not for training, where inputs need gradients.
    """
    world = dist.get_world_size(group)
    if model.cfg.heads % world:
        raise ValueError(f"sequence parallel over {world} processes needs dit.heads divisible by {world}, "
                         f"got {model.cfg.heads}")
    if getattr(model, "sequence_parallel_group_size", None) is not None:
        raise ValueError("this DiT already splits its tokens (apply_sequence_parallel_dit was called twice)")
    real = RealTokens()
    wrapped = apply_sequence_parallel(model.blocks, group, real=real)
    if wrapped != len(model.blocks):
        raise ValueError(f"expected one self-attention per block, wrapped {wrapped} of {len(model.blocks)}")

    def forward(x, t, text, text_mask):
        if broadcast_inputs:
            x, t, text, text_mask = broadcast_from_first([x, t, text, text_mask], group)
        return sequence_parallel_forward(model, group, real, x, t, text, text_mask)

    model.forward = forward
    model.sequence_parallel_group_size = world
