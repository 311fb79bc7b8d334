"""The one attention function of the DiT, so backends and sequence parallel plug in at one place.

    attention(q, k, v, mask=None, backend="sdpa") -> (B, H, Nq, Dh)

q (B, H, Nq, Dh), k and v (B, H, Nk, Dh); mask is bool, broadcastable to
(B, H, Nq, Nk), True = may attend. Backends, chosen by name (DiTConfig.attention):

- "sdpa": torch's scaled_dot_product_attention (flash / memory-efficient / CPU
  flash kernels, picked by torch).
- "math": the written-out softmax(q k^T / sqrt(d)) v, the reference for tests.
- "flex": torch's flex_attention (compile it for speed; eager works everywhere).

Model code never calls SDPA itself: each attention module holds `attn_fn`
(this function with its backend bound), which the parallel code may swap for
a sequence-parallel wrapper of it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def _sdpa(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _math(q, k, v, mask):
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Nq, Nk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ v.float()).type_as(q)


def _flex(q, k, v, mask):
    from torch.nn.attention.flex_attention import flex_attention

    if mask is None:
        return flex_attention(q, k, v)
    mask = mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])  # (B, H, Nq, Nk), a view

    def score_mod(score, b, h, qi, ki):
        return torch.where(mask[b, h, qi, ki], score, float("-inf"))

    return flex_attention(q, k, v, score_mod=score_mod)


BACKENDS: dict[str, Callable] = {"sdpa": _sdpa, "math": _math, "flex": _flex}


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, backend: str = "sdpa"
) -> torch.Tensor:
    """softmax(q k^T / sqrt(Dh)) v with an optional bool mask (True = attend)."""
    try:
        fn = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown attention backend {backend!r}; known: {sorted(BACKENDS)}") from None
    return fn(q, k, v, mask)


def bind(backend: str) -> Callable:
    """`attention` with its backend fixed: what each attention module stores as `attn_fn`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; known: {sorted(BACKENDS)}")
    return functools.partial(attention, backend=backend)
