"""Model FLOPs of the DiT from its config: the one count the benches (scale, ablate, train_speed) share.

    forward_flops(cfg, n_tokens=N, text_tokens=L)                   # one forward of one sample, by part
    train_flops(cfg, latent_shape=(B, C, T', H', W'), text_len=L)   # one forward + backward of a batch
    train_flops_per_token(cfg, n_tokens=N, text_tokens=L)           # a training step per video token

FLOPs are 2 per multiply-add, over the matmuls and attention, as torch's FlopCounterMode counts them (biases,
norms, RoPE, gates and the loss count 0). D = width, r = mlp_ratio (MLP hidden width int(r D)),
P = in_channels x p_t x p_h x p_w, D_text = text_dim, N video tokens and L text tokens a sample, U distinct
times (1 a sample for text-to-video):

    F_fwd = N x [ depth x ((12 + 4 r) D^2 + 4 N D + 4 L D) + 4 P D ]    video tokens: blocks, patch embed, output
          + L x [ depth x 4 D^2 + 2 D_text D + 2 D^2 ]                  text: cross-attention k, v; text projection
          + U x [ 2 x 256 D + 14 D^2 ]                                   time embedding (256 sinusoids) and adaLN

Per block and video token: qkv 6 D^2, attention output 2 D^2, cross-attention query and output 4 D^2, MLP 4 r D^2;
self-attention Q K^T and A V 4 N D, cross-attention 4 L D. A training step costs 3 F_fwd: the backward is twice
the forward (a gradient for the activations and one for the weights; Kaplan et al. 2020's 6 FLOPs a weight and
token). These are model FLOPs, the MFU convention: the forward that activation checkpointing runs again, and the
scores that flash attention's backward recomputes (`recomputed_score_flops`, which FlopCounterMode does charge),
are not in them. tests/dit/test_flops.py checks all this against FlopCounterMode. docs/scale.md shows the numbers.
"""

from __future__ import annotations

import math

TIME_FREQ_DIM = 256  # the sinusoid width of TimestepEmbedder (embeddings.py), the time MLP's input


def _patch_dim(cfg) -> int:
    """P: the numbers in one patch, the patch embedding's input and the output projection's output."""
    return cfg.in_channels * math.prod(cfg.patch_size)


def forward_flops(cfg, n_tokens: int, text_tokens: int, distinct_times: int = 1) -> dict[str, int]:
    """Model FLOPs of one forward of one sample of `n_tokens` video and `text_tokens` text tokens, by part:
    {"dense", "attention", "text", "time", "total"} (the module docstring has the formula)."""
    d, n, L = cfg.width, n_tokens, text_tokens
    hidden = int(d * cfg.mlp_ratio)  # the MLP's hidden width, as Block builds it
    per_block = 2 * (3 * d * d + d * d + 2 * d * d + 2 * d * hidden)  # qkv; out; cross q, out; MLP fc1, fc2
    dense = n * (cfg.depth * per_block + 2 * 2 * _patch_dim(cfg) * d)  # + patch embed and output projection
    attention = n * cfg.depth * (4 * n * d + 4 * L * d)  # Q K^T and A V, self then cross
    text = L * (cfg.depth * 2 * 2 * d * d + 2 * cfg.text_dim * d + 2 * d * d)  # cross k, v; text MLP
    time = distinct_times * (2 * TIME_FREQ_DIM * d + 2 * d * d + 2 * 6 * d * d)  # time MLP; adaLN (D -> 6D)
    return {"dense": dense, "attention": attention, "text": text, "time": time,
            "total": dense + attention + text + time}


def train_flops_per_token(cfg, n_tokens: int, text_tokens: int) -> float:
    """Model FLOPs of a training step of one sample (one time) per video token: 3 x the forward / N."""
    return 3 * forward_flops(cfg, n_tokens, text_tokens)["total"] / n_tokens


def tokens_of(cfg, latent_shape: tuple[int, ...]) -> int:
    """Video tokens of a batch of latents (B, C, T', H', W'): B x the patch grid (what the trainer counts)."""
    if len(latent_shape) != 5:
        raise ValueError(f"latent_shape must be (B, C, T', H', W'), got {tuple(latent_shape)}")
    bad = [f"{s} % {p}" for s, p in zip(latent_shape[2:], cfg.patch_size, strict=True) if s % p]
    if bad:
        raise ValueError(f"latent grid {tuple(latent_shape[2:])} is not divisible by dit.patch_size "
                         f"{tuple(cfg.patch_size)} ({', '.join(bad)} != 0): pick multiples of the patch size")
    return latent_shape[0] * math.prod(s // p for s, p in zip(latent_shape[2:], cfg.patch_size, strict=True))


def train_flops(cfg, latent_shape: tuple[int, ...], text_len: int, kept_tokens: int | None = None) -> int:
    """Model FLOPs of one forward + backward of a batch of latents (B, C, T', H', W'), each sample with its own
    time and `text_len` text tokens (the columns the DiT keeps after trimming padding): B x 3 x F_fwd.

    kept_tokens: with token masking (train/token_mask.py) the tokens a sample's blocks see; the patch embedding
    still runs on all N (it comes before the mask), so its 2 P D a dropped token is added back."""
    batch = latent_shape[0]
    n_tokens = tokens_of(cfg, latent_shape) // batch  # per sample
    if kept_tokens is None or kept_tokens >= n_tokens:
        return batch * 3 * forward_flops(cfg, n_tokens, text_len, distinct_times=1)["total"]
    dropped_embed = (n_tokens - kept_tokens) * 2 * _patch_dim(cfg) * cfg.width
    return batch * 3 * (forward_flops(cfg, kept_tokens, text_len, distinct_times=1)["total"] + dropped_embed)


def recomputed_score_flops(cfg, n_tokens: int, text_tokens: int) -> int:
    """FLOPs a training step of one sample runs beyond its model FLOPs in flash attention's backward, which
    recomputes the scores Q K^T (2 N^2 D a block for self-attention, 2 N L D for cross-attention).
    FlopCounterMode charges them; add them to `train_flops` to compare with its count."""
    return cfg.depth * (2 * n_tokens * n_tokens * cfg.width + 2 * n_tokens * text_tokens * cfg.width)


__all__ = ["TIME_FREQ_DIM", "forward_flops", "recomputed_score_flops", "tokens_of", "train_flops",
           "train_flops_per_token"]
