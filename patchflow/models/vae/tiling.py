"""Spatial tiling with blended overlaps, so a huge frame runs in bounded memory.

The input is cut into overlapping tiles, each runs alone, and outputs are blended
with linear ramps across the overlaps. The VAE's layers are local (per-pixel norms,
3x3 convs), so away from the seams a tile's output equals the whole frame's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length `tile` covering [0, size) with at least `overlap` shared."""
    if size <= tile:
        return [0]
    stride = max(tile - overlap, 1)
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _ramp(length: int, ramp: int, rise: bool, fall: bool) -> torch.Tensor:
    """Weights along one axis: 1 inside, a linear ramp of `ramp` samples at shared edges."""
    w = torch.ones(length)
    if ramp > 0:
        edge = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
        n = min(ramp, length)
        if rise:
            w[:n] = edge[:n]
        if fall:
            w[length - n:] = torch.minimum(w[length - n:], edge[:n].flip(0))
    return w


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int, scale: float
) -> torch.Tensor:
    """Apply `fn` to overlapping (tile x tile) windows of x (B, C, T, H, W) and blend.

    `scale` is output pixels per input pixel (spatial_factor to decode, 1 / spatial_factor
    to encode); tile offsets times `scale` must be whole numbers.
    """
    _, _, _, h, w = x.shape
    out = weight = None
    ramp_out = int(round(overlap * scale))
    rows, cols = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    for y0 in rows:
        for x0 in cols:
            y = fn(x[:, :, :, y0: y0 + tile, x0: x0 + tile])  # (B, C', T', th * scale, tw * scale)
            if out is None:
                b, c, t = y.shape[:3]
                out = y.new_zeros(b, c, t, int(round(h * scale)), int(round(w * scale)))
                weight = y.new_zeros(1, 1, 1, out.shape[3], out.shape[4])
            th, tw = y.shape[3], y.shape[4]
            oy, ox = int(round(y0 * scale)), int(round(x0 * scale))
            wy = _ramp(th, ramp_out, rise=y0 > 0, fall=y0 + tile < h).to(y)
            wx = _ramp(tw, ramp_out, rise=x0 > 0, fall=x0 + tile < w).to(y)
            wmap = (wy[:, None] * wx[None, :]).view(1, 1, 1, th, tw)  # (1, 1, 1, th, tw)
            out[:, :, :, oy: oy + th, ox: ox + tw] += y * wmap
            weight[:, :, :, oy: oy + th, ox: ox + tw] += wmap
    return out / weight
