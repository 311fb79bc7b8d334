"""Training FLOPs of a DiT step from its config: 6 x weights x tokens, plus attention.

    per_step = train_flops(cfg.dit, latent_shape=(B, C, T', H', W'), text_len=L)   # one forward + backward

A forward pass costs 2 FLOPs per multiply-add, so 2 per weight a token passes through; the backward twice
that: 6 N FLOPs per token for N weights (Kaplan et al. 2020), the count the DiT scaling law (Liang et al.
2024, C = 6 N D) is fitted in. The weights are split by what they read:
- video tokens (B x N of them, N = the patch grid): the patch embedding, each block's self-attention qkv
  and output, cross-attention query and output, the MLP, and the output projection;
- text tokens (B x L): the text projection and each block's cross-attention keys and values;
- times (a few distinct times a step): the time embedding and adaLN, left out.
Attention has no weights: self-attention's Q K^T and A V are 2 x 2 N^2 D FLOPs a block and sample forward,
cross-attention's 2 x 2 N L D; times 3 for the backward. Elementwise work (norms, RoPE, gates) is left out,
as FlopCounterMode leaves it out (tests/bench/test_flops.py checks the two agree).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

TEXT_SIDE = ("text_proj.", ".cross.kv.")  # weights that read text tokens
TIME_SIDE = ("t_embed.", "adaln.")  # weights that read the time (a few values a step)


def _weights_of(name: str, sides: tuple[str, ...]) -> bool:
    return any(name.startswith(s) or s in name for s in sides)


@lru_cache(maxsize=32)
def _weight_counts(dit_json: str) -> tuple[int, int, int]:
    from patchflow.config import DiTConfig, from_json
    from patchflow.models.dit import DiT

    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = DiT(from_json(dit_json, DiTConfig))
    video = text = time = 0
    for name, p in model.named_parameters():
        if _weights_of(name, TEXT_SIDE):
            text += p.numel()
        elif _weights_of(name, TIME_SIDE):
            time += p.numel()
        else:
            video += p.numel()
    return video, text, time


def weight_counts(dit_cfg) -> dict[str, int]:
    """{"video", "text", "time", "total"}: the DiT's weights by the tokens they read."""
    from patchflow.config import to_json

    video, text, time = _weight_counts(to_json(dit_cfg))
    return {"video": video, "text": text, "time": time, "total": video + text + time}


def train_flops(dit_cfg, latent_shape: tuple[int, ...], text_len: int) -> int:
    """FLOPs of one forward + backward of a batch of latents (B, C, T', H', W') with `text_len` text tokens."""
    batch = latent_shape[0]
    tokens = math.prod(s // p for s, p in zip(latent_shape[2:], dit_cfg.patch_size, strict=True))  # N per sample
    weights = weight_counts(dit_cfg)
    dense = 6 * batch * (weights["video"] * tokens + weights["text"] * text_len)
    attention = 3 * 4 * dit_cfg.depth * dit_cfg.width * batch * tokens * (tokens + text_len)
    return dense + attention


def tokens_of(dit_cfg, latent_shape: tuple[int, ...]) -> int:
    """Video tokens of a batch of latents: B x the patch grid (what the trainer counts as tokens)."""
    return latent_shape[0] * math.prod(s // p for s, p in zip(latent_shape[2:], dit_cfg.patch_size, strict=True))


__all__ = ["train_flops", "weight_counts", "tokens_of"]
