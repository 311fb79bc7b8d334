"""Token masking in training (MaskDiT, Zheng et al. 2023): the DiT sees part of each sample's tokens.

    keep = keep_indices(grid, ratio=0.5, gen=gen)        # (N_keep,) sorted token indices, the same for the batch
    loss = rectified_flow_loss(..., keep=keep)           # the DiT runs on the kept tokens; the loss is theirs

With `train.token_mask = r` every training step before `train.token_mask_until` x steps drops a fraction r of
each latent frame's tokens (the same count in every frame, so per-frame time groups stay whole, and the same
indices for the whole batch, so RoPE positions stay one (N_keep, ...) table). The steps after that train on
all tokens: MaskDiT's short unmasked finish, which closes the gap between training on part of a video and
sampling all of it. Validation and sampling never mask.

What is left out of MaskDiT: its MAE branch (a decoder that fills the masked tokens and a reconstruction loss
on them). Here the masked tokens carry no loss at all, the simplest form ("token dropping"); the saving is the
same, the blocks' cost falls with the kept tokens (attention as their square).
"""

from __future__ import annotations

import math

import torch

from patchflow.config import TrainConfig


def check_token_mask(tc: TrainConfig) -> None:
    """ValueError naming the key and the fix for a mask setting no training step can use."""
    if not 0.0 <= tc.token_mask < 1.0:
        raise ValueError(f"train.token_mask must be in [0, 1) (the fraction of tokens a masked step drops), "
                         f"got {tc.token_mask}: set e.g. --set train.token_mask=0.5, or 0 for off")
    if not 0.0 <= tc.token_mask_until <= 1.0:
        raise ValueError(f"train.token_mask_until must be in [0, 1] (the fraction of the run that is masked), "
                         f"got {tc.token_mask_until}: set e.g. --set train.token_mask_until=0.9")
    if tc.token_mask > 0 and tc.sequence_parallel > 1:
        raise ValueError("train.token_mask > 0 cannot run with train.sequence_parallel > 1 (the processes split "
                         "the tokens a mask would drop): set one of them off")


def mask_ratio_at(tc: TrainConfig, step: int) -> float:
    """The fraction of tokens step `step` (0-based) drops: train.token_mask until token_mask_until x steps, then 0."""
    return tc.token_mask if step < tc.token_mask_until * tc.steps else 0.0


def kept_per_frame(frame_tokens: int, ratio: float) -> int:
    """Tokens kept in each latent frame of `frame_tokens` at mask `ratio`: at least one."""
    return max(1, frame_tokens - math.floor(ratio * frame_tokens))


def keep_indices(grid: tuple[int, int, int], ratio: float, gen: torch.Generator) -> torch.Tensor:
    """(N_keep,) sorted indices into the (t, h, w)-ordered tokens of `grid`: the same count in every frame."""
    frames, frame_tokens = grid[0], grid[1] * grid[2]
    k = kept_per_frame(frame_tokens, ratio)
    scores = torch.rand(frames, frame_tokens, generator=gen)  # (T, H*W): keep each frame's k smallest
    chosen = scores.argsort(dim=1)[:, :k].sort(dim=1).values  # (T, k), in order within the frame
    offsets = torch.arange(frames)[:, None] * frame_tokens  # (T, 1): the first token of each frame
    return (chosen + offsets).flatten()  # (T, k) -> (T*k,)


def kept_tokens(grid: tuple[int, int, int], ratio: float) -> int:
    """How many tokens a sample of `grid` keeps at mask `ratio` (for FLOP counts)."""
    return grid[0] * (grid[1] * grid[2] if ratio <= 0 else kept_per_frame(grid[1] * grid[2], ratio))


__all__ = ["check_token_mask", "keep_indices", "kept_per_frame", "kept_tokens", "mask_ratio_at"]
