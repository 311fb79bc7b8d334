"""Ulysses sequence parallelism: each process holds 1/P of the tokens, attention swaps to 1/P of the heads.

Attention needs every token, but its heads are independent. So before attention
an all-to-all turns "all heads of my tokens" into "my heads of all tokens", the
wrapped attention function runs unchanged on full sequences, and a second
all-to-all turns the result back (DeepSpeed-Ulysses). Everything else in a
transformer block (norms, MLP, modulation) works per token and needs no
communication. Cross-attention to the text needs none either: its keys are the
whole text on every process, and each query token is local.

    q, k, v (B, H, N/P, Dh) on each rank  ->  (B, H/P, N, Dh)  ->  attn  ->  (B, H, N/P, Dh)

The token shards are contiguous: rank r holds tokens [r N/P, (r+1) N/P).
`all_to_all_single` runs on gloo (CPU) and NCCL (GPU).

When P does not divide N the caller pads the sequence at its end to a multiple
of P and says how many tokens are real (`RealTokens`): after the first all-to-all
every rank holds the whole padded sequence, so the padding is cut off before
attention (no mask, the fast kernels stay) and zeros stand in for its output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _all_to_all(x: torch.Tensor, group) -> torch.Tensor:
    """Chunk i of dim 0 goes to rank i; chunk i of the result came from rank i."""
    x = x.contiguous()
    out = torch.empty_like(x)  # after .contiguous(): empty_like keeps strides, and the collective writes raw memory
    dist.all_to_all_single(out, x, group=group)
    return out


def _seq_to_heads(x: torch.Tensor, group) -> torch.Tensor:
    """(B, H, N/P, D) -> (B, H/P, N, D)"""
    p = dist.get_world_size(group)
    b, h, n_local, d = x.shape
    if h % p:
        raise ValueError(f"sequence parallel over {p} processes needs heads divisible by {p}, got {h}")
    x = x.reshape(b, p, h // p, n_local, d).permute(1, 0, 2, 3, 4)  # (P, B, H/P, N/P, D): chunk i -> rank i
    x = _all_to_all(x, group)  # (P, B, H/P, N/P, D): chunk i = rank i's tokens, my heads
    return x.permute(1, 2, 0, 3, 4).reshape(b, h // p, p * n_local, d)  # (B, H/P, N, D)


def _heads_to_seq(x: torch.Tensor, group) -> torch.Tensor:
    """(B, H/P, N, D) -> (B, H, N/P, D)"""
    p = dist.get_world_size(group)
    b, h_local, n, d = x.shape
    x = x.reshape(b, h_local, p, n // p, d).permute(2, 0, 1, 3, 4)  # (P, B, H/P, N/P, D): chunk i -> rank i
    x = _all_to_all(x, group)  # (P, B, H/P, N/P, D): chunk i = head group i, my tokens
    return x.permute(1, 0, 2, 3, 4).reshape(b, p * h_local, n // p, d)  # (B, H, N/P, D)


class _SeqToHeads(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _seq_to_heads(x, group)

    @staticmethod
    def backward(ctx, grad):
        return _heads_to_seq(grad, ctx.group), None  # the inverse permutation carries gradients back


class _HeadsToSeq(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _heads_to_seq(x, group)

    @staticmethod
    def backward(ctx, grad):
        return _seq_to_heads(grad, ctx.group), None


class RealTokens:
    """How many tokens of the padded full sequence are real, set by the caller before each forward."""

    def __init__(self):
        self.count: int | None = None  # None: no padding


def ulysses(attn_fn: Callable, group=None, real: RealTokens | None = None) -> Callable:
    """Wrap an attention function `(q, k, v, mask) -> out` for sequence-sharded q, k, v (self-attention).

    A mask, if any, must not depend on the query position and must cover the full
    key sequence (e.g. (B, 1, 1, N) key padding); its heads dim must be 1. With
    `real`, tokens past `real.count` are padding: no query sees them, their output is 0.
    """

    def attention(q, k, v, mask=None):
        q, k, v = (_SeqToHeads.apply(x, group) for x in (q, k, v))  # (B, H/P, N_padded, Dh)
        padded = q.shape[2]
        n = padded if real is None or real.count is None else real.count
        if n < padded:  # the padding is the tail of the last ranks' shards: the end of the full sequence
            q, k, v = (x[:, :, :n] for x in (q, k, v))  # (B, H/P, N, Dh)
        out = attn_fn(q, k, v, mask)
        if n < padded:
            out = F.pad(out, (0, 0, 0, padded - n))  # (B, H/P, N, Dh) -> (B, H/P, N_padded, Dh)
        return _HeadsToSeq.apply(out, group)

    attention.ulysses_inner = attn_fn  # so the wrap can be undone or inspected
    return attention


def apply_sequence_parallel(
    model: nn.Module, group=None, self_attention: Callable[[str, nn.Module], bool] | None = None,
    real: RealTokens | None = None,
) -> int:
    """Swap `attn_fn` of the model's self-attention modules for its Ulysses wrap; returns how many.

    Attention modules hold `attn_fn` (models/dit/attention.py). By default a module
    counts as self-attention unless its name says cross; pass `self_attention` to decide otherwise.
    The caller must feed each rank its contiguous 1/P of the tokens (padded as `real` says).
    """
    is_self = self_attention or (lambda name, module: "cross" not in name.lower())
    count = 0
    for name, module in model.named_modules():
        fn = getattr(module, "attn_fn", None)
        if fn is None or hasattr(fn, "ulysses_inner") or not is_self(name, module):
            continue
        module.attn_fn = ulysses(fn, group, real)
        count += 1
    return count


def shard_sequence(x: torch.Tensor, dim: int, group=None) -> torch.Tensor:
    """This rank's contiguous slice of `x` along `dim` (the token dim)."""
    p, r = dist.get_world_size(group), dist.get_rank(group)
    if x.shape[dim] % p:
        raise ValueError(f"{x.shape[dim]} tokens do not split evenly over {p} processes")
    return x.chunk(p, dim=dim)[r]


class _GatherSequence(torch.autograd.Function):
    """Forward: all-gather along `dim`. Backward: every rank's gradient of the whole, summed, then my slice."""

    @staticmethod
    def forward(ctx, x, dim, group):
        ctx.dim, ctx.group = dim, group
        pieces = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(pieces, x.contiguous(), group=group)
        return torch.cat(pieces, dim=dim)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)  # gloo has no reduce-scatter: all-reduce, then keep my slice
        p, r = dist.get_world_size(ctx.group), dist.get_rank(ctx.group)
        return grad.chunk(p, dim=ctx.dim)[r], None, None


def gather_sequence(x: torch.Tensor, dim: int, group=None) -> torch.Tensor:
    """Concatenate every rank's slice along `dim` (differentiable)."""
    return _GatherSequence.apply(x, dim, group)
