"""Frame conditions: images or clips placed at frames of the output, turned into latent masks.

A `FrameCondition` says "this media appears at this (pixel) frame of the video". The causal VAE
packs pixel frames into latent frames as

    pixel frame 0                         -> latent 0 (encoded alone, like an image)
    pixel frames 1 + r*(j-1) .. r*j       -> latent j (a group of r = temporal factor frames)

so a condition becomes clean latents at some latent slots plus a per-slot strength (0 = free). Media
at frame 0 is encoded as its own causal video and fills slots 0..m exactly. Media later in the video
must fill whole groups: a clip is cut to the groups it covers and encoded as its own causal video with
its first frame repeated as a lead-in (whose image-like latent is dropped), an image becomes a still
group. The modes' presets, which build these conditions, live in `patchflow/pipeline/modes.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from patchflow import media as video_io

Media = str | Path | np.ndarray | torch.Tensor


@dataclass
class FrameCondition:
    """An image or a video clip shown from pixel frame `frame_index` of the output.

    frame_index < 0 counts from the end: -1 puts the media's last frame on the output's last frame.
    strength 1 holds the frames clean all the way; s < 1 holds them while t > 1 - s (a soft keyframe).
    Media: a path, uint8 (H, W, 3) / (T, H, W, 3) frames, a PIL image, or a float tensor in [-1, 1]
    shaped (C, H, W) / (C, T, H, W).
    """

    image: Media | None = None
    video: Media | None = None
    frame_index: int = 0
    strength: float = 1.0

    def __post_init__(self):
        if (self.image is None) == (self.video is None):
            raise ValueError("a FrameCondition holds exactly one of image= or video=")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")


# ----------------------------------------------------------------------------- frame arithmetic


def latent_frames(num_frames: int, r_t: int) -> int:
    """Latent frames of a valid pixel frame count: T' = 1 + (T - 1) / r_t."""
    return 1 + (num_frames - 1) // r_t


def latent_slot(frame: int, r_t: int) -> int:
    """The latent frame that holds pixel frame `frame`."""
    return 0 if frame == 0 else 1 + (frame - 1) // r_t


def is_valid_frame_count(num_frames: int, r_t: int) -> bool:
    return num_frames >= 1 and (num_frames - 1) % r_t == 0


def nearest_frame_counts(num_frames: int, r_t: int) -> list[int]:
    """The valid counts 1 + r_t * k just below and above `num_frames`."""
    below = 1 + max(0, (num_frames - 1) // r_t) * r_t
    return sorted({below, below + r_t} - {0})


# ----------------------------------------------------------------------------- media


def to_video_tensor(media: Media, height: int, width: int) -> torch.Tensor:
    """Any media -> (C, T, H, W) float in [-1, 1] at the output size (center crop to aspect, then resize)."""
    if isinstance(media, (str, Path)):
        frames, _ = video_io.read_video(media)
        video = video_io.to_tensor(frames)
    elif isinstance(media, torch.Tensor):
        video = media.float() if media.dim() == 4 else media.float()[:, None]  # (C, H, W) -> (C, 1, H, W)
    else:
        frames = np.asarray(media)  # PIL images convert here too
        if frames.ndim == 3:
            frames = frames[None]  # (H, W, 3) -> (1, H, W, 3)
        video = video_io.to_tensor(frames.astype(np.uint8))
    return resize_video(video, height, width)


def resize_video(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(C, T, H, W) -> (C, T, height, width): crop the middle to the target aspect, then resize."""
    c, t, h, w = video.shape
    if (h, w) == (height, width):
        return video
    scale = min(h / height, w / width)
    crop_h, crop_w = round(height * scale), round(width * scale)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    video = video[:, :, top:top + crop_h, left:left + crop_w]
    frames = video.permute(1, 0, 2, 3)  # (C, T, h, w) -> (T, C, h, w): time as the batch
    frames = F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return frames.permute(1, 0, 2, 3).clamp(-1, 1)  # (T, C, H, W) -> (C, T, H, W)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (T, H, W, 3) at another size, the same way conditions are resized."""
    if frames.shape[1:3] == (height, width):
        return frames
    writable = np.require(frames, requirements="W")  # decoded images can be read-only, which torch warns of
    return video_io.to_frames(resize_video(video_io.to_tensor(writable), height, width))


# ----------------------------------------------------------------------------- conditions -> latents

EncodeFn = Callable[[torch.Tensor], torch.Tensor]  # (1, C, T, H, W) pixels -> (1, C', T', H', W') latents


def _place(cond: FrameCondition, clip: torch.Tensor, num_frames: int, r_t: int):
    """-> (first latent slot, pixels to encode (C, T, H, W), drop the lead-in latent?)."""
    n = clip.shape[1]
    start = cond.frame_index if cond.frame_index >= 0 else num_frames + cond.frame_index + 1 - n
    if not 0 <= start < num_frames:
        raise ValueError(f"condition at frame {cond.frame_index} starts outside the {num_frames}-frame video")
    n = min(n, num_frames - start)
    if start == 0:
        usable = 1 + (n - 1) // r_t * r_t  # whole causal layout: 1 + r_t * m frames
        return 0, clip[:, :usable], False
    first_group = latent_slot(start, r_t) if (start - 1) % r_t == 0 else latent_slot(start, r_t) + 1
    offset = 1 + r_t * (first_group - 1) - start  # frames of the clip before its first whole group
    groups = (n - offset) // r_t
    if groups < 1:  # an image or a short clip: the group holding `start` shows its first frame still
        still = clip[:, :1].expand(-1, r_t + 1, -1, -1)  # (C, 1, H, W) -> (C, 1 + r_t, H, W)
        return latent_slot(start, r_t), still, True
    body = clip[:, offset:offset + groups * r_t]
    lead_in = body[:, :1]  # the causal encoder sees a frame before the first group, as inside a video
    return first_group, torch.cat([lead_in, body], dim=1), True


@torch.no_grad()
def encode_conditions(
    conditions: list[FrameCondition], encode: EncodeFn, num_frames: int, height: int, width: int, r_t: int,
    latent_shape: tuple[int, ...], device=None, dtype=torch.float32,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> clean latents (1, C, T', H', W') and strength per latent frame (1, T'), or (None, None).

    Later conditions override earlier ones where they share latent frames.
    """
    if not conditions:
        return None, None
    x_cond = torch.zeros(1, *latent_shape[1:], device=device, dtype=dtype)
    strength = torch.zeros(1, latent_shape[2], device=device, dtype=torch.float32)
    for cond in conditions:
        clip = to_video_tensor(cond.image if cond.image is not None else cond.video, height, width)
        slot, pixels, drop_lead_in = _place(cond, clip, num_frames, r_t)
        z = encode(pixels[None])  # (1, C, T, H, W) -> (1, C', T', H', W')
        z = z[:, :, 1:] if drop_lead_in else z
        count = min(z.shape[2], latent_shape[2] - slot)
        x_cond[:, :, slot:slot + count] = z[:, :, :count].to(device=device, dtype=dtype)
        strength[:, slot:slot + count] = cond.strength
    return x_cond, strength
