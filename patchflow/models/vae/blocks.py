"""Building blocks of the causal VAE: norm, residual block, resampling, frame attention.

Every block takes `(x, cache)` so a `StreamCache` reaches each causal conv. Norm
statistics are taken per frame and per pixel (over a group of channels), never
across time or space: that keeps the model causal in time and local in space,
so chunked and tiled runs equal whole ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from patchflow.models.vae.causal_conv import CausalConv3d, StreamCache, init_conv


class PixelGroupNorm(nn.Module):
    """GroupNorm whose statistics cover one channel group at one (frame, pixel).

    Plain GroupNorm pools over T, H and W: it would leak the future into the past and
    make a tile's output depend on the rest of the frame. groups=1 is a channel LayerNorm.
    """

    def __init__(self, channels: int, groups: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.groups = math.gcd(groups, channels)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        y = x.permute(0, 2, 3, 4, 1)  # (B, T, H, W, C): free when x is channels-last
        if self.groups == 1:
            y = F.layer_norm(y, (c,), self.weight, self.bias, self.eps)  # one fused pass
        else:
            g = y.reshape(*y.shape[:4], self.groups, c // self.groups)  # (B, T, H, W, G, C/G)
            y = F.layer_norm(g, (c // self.groups,), eps=self.eps).reshape(y.shape) * self.weight + self.bias
        return y.permute(0, 4, 1, 2, 3)  # (B, C, T, H, W)


class ResBlock(nn.Module):
    """norm -> SiLU -> causal conv, twice, plus a (1x1x1 projected) skip."""

    def __init__(self, in_ch: int, out_ch: int, groups: int) -> None:
        super().__init__()
        self.norm1 = PixelGroupNorm(in_ch, groups)
        self.conv1 = CausalConv3d(in_ch, out_ch)
        self.norm2 = PixelGroupNorm(out_ch, groups)
        self.conv2 = CausalConv3d(out_ch, out_ch)
        self.skip = nn.Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        if isinstance(self.skip, nn.Conv3d):
            init_conv(self.skip)
        # the residual branch starts at zero: each block starts as its skip path (identity), so the
        # image signal reaches the latent and the output undiluted and deep stacks train fast
        nn.init.zeros_(self.conv2.conv.weight)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve H and W (strided 3x3 conv per frame) and/or T (strided causal conv, 1 + 2k -> 1 + k)."""

    def __init__(self, channels: int, space: bool, time: bool) -> None:
        super().__init__()
        self.space = CausalConv3d(channels, channels, (1, 3, 3), (1, 2, 2)) if space else None
        self.time = CausalConv3d(channels, channels, (3, 1, 1), (2, 1, 1)) if time else None

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        if self.space is not None:
            x = self.space(x, cache)
        if self.time is not None:
            x = self.time(x, cache)
        return x


class Upsample(nn.Module):
    """Double T (1 + k -> 1 + 2k) and/or H and W; the mirror of `Downsample`.

    In time, a causal conv makes two frames per input frame (2C channels, interleaved);
    the very first input frame keeps only its second one, since frame 0 stands alone.
    """

    def __init__(self, channels: int, space: bool, time: bool) -> None:
        super().__init__()
        self.time = CausalConv3d(channels, 2 * channels, (3, 1, 1)) if time else None
        self.space = CausalConv3d(channels, channels, (1, 3, 3)) if space else None
        if self.time is not None:
            # start as "repeat the current frame twice" so early training sees sensible motion
            with torch.no_grad():
                self.time.conv.weight.zero_()
                self.time.conv.bias.zero_()
                eye = torch.eye(channels).view(channels, channels)
                self.time.conv.weight[:channels, :, -1, 0, 0] = eye
                self.time.conv.weight[channels:, :, -1, 0, 0] = eye

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        if self.time is not None:
            first = cache is None or not cache.started(self.time.cache_key)
            y = self.time(x, cache)  # (B, 2C, T, H, W)
            b, c2, t, h, w = y.shape
            y = y.view(b, 2, c2 // 2, t, h, w)  # (B, 2, C, T, H, W)
            y = y.permute(0, 2, 3, 1, 4, 5)  # (B, C, T, 2, H, W)
            x = y.reshape(b, c2 // 2, 2 * t, h, w)  # (B, C, 2T, H, W): frames a_0 b_0 a_1 b_1 ...
            if first:
                x = x[:, :, 1:]  # frame 0 of the video comes from latent frame 0 alone
        if self.space is not None:
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")  # (B, C, T, 2H, 2W)
            x = self.space(x, cache)
        return x


class FrameAttention(nn.Module):
    """Single-head self-attention over the pixels of each frame (never across time: stays causal)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = PixelGroupNorm(channels, groups)
        self.qkv = nn.Conv3d(channels, 3 * channels, 1)
        init_conv(self.qkv)
        self.proj = nn.Conv3d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)  # starts as identity: the residual path carries it
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        b, c, t, h, w = x.shape
        qkv = self.qkv(self.norm(x))  # (B, 3C, T, H, W)
        qkv = qkv.view(b, 3, c, t, h * w).permute(1, 0, 3, 4, 2)  # (3, B, T, HW, C)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, T, HW, C)
        out = out.permute(0, 3, 1, 2).reshape(b, c, t, h, w)  # (B, C, T, H, W)
        return x + self.proj(out)
