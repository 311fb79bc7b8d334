"""Buckets: the (frames, height, width) shapes that samples are cut to, so a batch is one tensor.

A bucket config lists resolution classes (class = sqrt(H * W) in pixels), aspect ratios written
W:H ("16:9" is landscape, "9:16" portrait) and allowed frame counts (1 + r_t * k). Each class and
aspect ratio gives one grid (H, W), both multiples of `spatial_multiple` (the VAE's spatial factor
times the DiT's patch size, so every sample patchifies exactly).

A sample goes to the largest resolution class it fills, and there to the grid nearest its own
aspect ratio among those no larger than itself and of its own orientation (a portrait video is
never cropped into a landscape bucket), with the most frames it holds at the decode rate.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from patchflow.config import BucketConfig


@dataclass(frozen=True, order=True)
class Bucket:
    frames: int
    height: int
    width: int

    @property
    def key(self) -> str:
        """'17x144x256' = frames x height x width; what a batch's `bucket` says."""
        return f"{self.frames}x{self.height}x{self.width}"

    @property
    def is_image(self) -> bool:
        return self.frames == 1

    def latent_tokens(self, temporal_factor: int, spatial_multiple: int) -> int:
        """Tokens the DiT sees: T' * H/sm * W/sm with T' = 1 + (T - 1) / r_t (causal VAE)."""
        latent_frames = 1 + (self.frames - 1) // temporal_factor
        return latent_frames * (self.height // spatial_multiple) * (self.width // spatial_multiple)

    def batch_size(self, cfg: BucketConfig, temporal_factor: int, spatial_multiple: int) -> int:
        """As many samples as fit the token budget, at most `max_batch`, at least 1."""
        per_sample = self.latent_tokens(temporal_factor, spatial_multiple)
        return max(1, min(cfg.max_batch, cfg.token_budget // per_sample))


@dataclass(frozen=True)
class Grid:
    resolution: int
    aspect: str
    height: int
    width: int


def parse_aspect(aspect: str) -> tuple[float, float]:
    """'16:9' -> (16.0, 9.0) as (width, height)."""
    try:
        w, h = (float(part) for part in aspect.split(":"))
    except ValueError:
        raise ValueError(f"aspect ratio {aspect!r} should look like 16:9 (width:height)") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect ratio {aspect!r} must be positive")
    return w, h


def grids(cfg: BucketConfig, spatial_multiple: int) -> list[Grid]:
    """Every (resolution, aspect) grid, sizes rounded to multiples of `spatial_multiple`, duplicates dropped."""
    if spatial_multiple < 1:
        raise ValueError(f"spatial_multiple must be >= 1, got {spatial_multiple}")
    found: dict[tuple[int, int], Grid] = {}
    for resolution in sorted(cfg.resolutions):
        for aspect in cfg.aspect_ratios:
            w, h = parse_aspect(aspect)
            # H * W = resolution^2 and W / H = w / h, each side rounded to the multiple.
            height = _round_to(resolution * math.sqrt(h / w), spatial_multiple)
            width = _round_to(resolution * math.sqrt(w / h), spatial_multiple)
            found.setdefault((height, width), Grid(resolution, aspect, height, width))
    return list(found.values())


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def check_frames(frames: list[int], temporal_factor: int) -> list[int]:
    """Allowed clip lengths, sorted; each must be 1 + r_t * k so the causal VAE encodes it whole."""
    bad = [f for f in frames if f < 1 or (f - 1) % temporal_factor]
    if bad:
        raise ValueError(f"data.buckets.frames {bad} are not 1 + {temporal_factor} * k (the VAE's temporal factor)")
    return sorted(set(frames))


def available_frames(row: dict, fps: float) -> int:
    """Frames a sample gives at the decode rate: (T - 1) / fps may span no more than the source does."""
    num_frames, source_fps = int(row.get("num_frames") or 1), float(row.get("fps") or 0.0)
    if num_frames <= 1 or source_fps <= 0:
        return 1
    return int(math.floor((num_frames - 1) * fps / source_fps + 1e-6)) + 1


def assign_bucket(row: dict, all_grids: list[Grid], frames: list[int], fps: float) -> Bucket | str:
    """The bucket for one sample, or the reason it fits none."""
    height, width = int(row.get("height") or 0), int(row.get("width") or 0)
    if height <= 0 or width <= 0:
        return "no size in the manifest"
    fitting = [g for g in all_grids if g.height <= height and g.width <= width and _same_orientation(g, height, width)]
    if not fitting:
        return "smaller than every bucket"
    top = max(g.resolution for g in fitting)
    aspect = height / width
    grid = min((g for g in fitting if g.resolution == top), key=lambda g: abs(math.log((g.height / g.width) / aspect)))
    usable = [f for f in frames if f <= available_frames(row, fps)]
    if not usable:
        return "shorter than every frame count"
    return Bucket(max(usable), grid.height, grid.width)


def _same_orientation(grid: Grid, height: int, width: int) -> bool:
    """A portrait sample takes square or portrait grids, a landscape one square or landscape."""
    if height > width:
        return grid.height >= grid.width
    if width > height:
        return grid.width >= grid.height
    return True


def assign_buckets(
    rows: list[dict], cfg: BucketConfig, fps: float, temporal_factor: int, spatial_multiple: int
) -> tuple[dict[Bucket, list[int]], Counter]:
    """{bucket: [row indices]} and a Counter of why the dropped samples fit nowhere."""
    all_grids = grids(cfg, spatial_multiple)
    frames = check_frames(cfg.frames, temporal_factor)
    members: dict[Bucket, list[int]] = {}
    dropped: Counter = Counter()
    for index, row in enumerate(rows):
        bucket = assign_bucket(row, all_grids, frames, fps)
        if isinstance(bucket, str):
            dropped[bucket] += 1
        else:
            members.setdefault(bucket, []).append(index)
    return dict(sorted(members.items())), dropped
