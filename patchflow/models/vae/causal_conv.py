"""Causal 3D convolution and the explicit cache that lets it stream.

A causal conv pads time only from the past, so output frame j sees input frames
<= its own position. To stream a long video in chunks, each conv keeps the tail
of its (padded) input that the next chunk's first windows still need; that tail
lives in a `StreamCache` the caller creates and passes down, never on the module.
Whole-video and chunked runs then compute exactly the same windows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StreamCache:
    """Past frames each causal conv still needs, keyed by the conv's name. One per stream.

    A missing key means "this conv has seen nothing yet": it pads its past (zeros or copies of
    the first frame), exactly as a whole-video pass does at frame 0.
    """

    def __init__(self) -> None:
        self.frames: dict[str, torch.Tensor] = {}

    def get(self, key: str) -> torch.Tensor | None:
        return self.frames.get(key)

    def put(self, key: str, tail: torch.Tensor) -> None:
        # clone: a slice would keep the whole chunk's activation alive and memory would grow
        self.frames[key] = tail.detach().clone()

    def started(self, key: str) -> bool:
        return key in self.frames

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.frames.values())


class CausalConv3d(nn.Module):
    """Conv3d, causal in time (kt - 1 frames of past padding), 'same' or strided in space.

    Spatial stride 2 pads one pixel right/bottom (kernel 3), so H -> H / 2 for even H.
    Temporal stride s with kernel kt: output j covers input frames s*j - kt + 1 .. s*j,
    so frame 0 is alone in output 0 and the 1 + s*k layout maps to 1 + k.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel
        st, sh, sw = stride
        self.kt, self.st = kt, st
        self.pad_t = kt - 1
        # stride 1: 'same' zero padding inside the conv (no copy); stride 2: (left, right, top, bottom)
        # for F.pad, only right/bottom, so even H, W halve exactly
        same = sh == 1 and sw == 1
        self.pad_hw = (0, 0, 0, 0) if same else (0, kw - sw, 0, kh - sh)
        padding = (0, kh // 2, kw // 2) if same else 0
        self.conv = nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=padding)
        init_conv(self.conv)
        self.cache_key = ""  # set once by the owning model to its module name
        self.past = "zeros"  # what stands before frame 0: "zeros" or "first_frame" (set by the owning model)

    def forward(self, x: torch.Tensor, cache: StreamCache | None = None) -> torch.Tensor:
        # x: (B, C, T, H, W)
        if any(self.pad_hw):
            x = F.pad(x, self.pad_hw)  # zeros in space
        if self.pad_t == 0 and self.st == 1:
            return self.conv(x)
        past = cache.get(self.cache_key) if cache is not None else None
        if past is None and self.past == "first_frame":
            past = x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1)  # (B, C, pad_t, H, W): frame 0 repeated
        elif past is None:
            b, c, _, h, w = x.shape
            past = x.new_zeros(b, c, self.pad_t, h, w)
        x = torch.cat([past, x], dim=2)  # (B, C, T_past + T, H, W)
        # chunks are aligned to the 1 + r_t * k layout, so every chunk yields >= 1 output frame
        n_out = (x.shape[2] - self.kt) // self.st + 1
        if cache is not None:
            # the next window starts at n_out * stride: keep everything from there on
            cache.put(self.cache_key, x[:, :, n_out * self.st:])
        return self.conv(x[:, :, : (n_out - 1) * self.st + self.kt])


def init_conv(conv: nn.Conv3d) -> None:
    """He init (fan-in, gain sqrt 2), zero bias.

    PyTorch's default (kaiming_uniform with a = sqrt 5) has gain 1/sqrt 3 per conv: through the VAE's
    chain of plain convs (in, down/up-sampling, out) the image signal shrank ~50x before the decoder,
    bias/common-mode terms dominated, and the per-pixel norms then squashed what was left into one
    flat colour (the "mean colour" plateau).
    """
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


PAST_PADDINGS = ("zeros", "first_frame")


def setup_causal_convs(model: nn.Module, past: str) -> None:
    """Give every causal conv its module name as cache key (unique within the model) and its past padding."""
    if past not in PAST_PADDINGS:
        raise ValueError(f"vae.causal_padding must be one of {PAST_PADDINGS}, got {past!r}")
    for name, module in model.named_modules():
        if isinstance(module, CausalConv3d):
            module.cache_key = name
            module.past = past
