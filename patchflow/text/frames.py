"""Frames for a vision-language model: pick N evenly from a clip, and encode them as PNG."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def check_clip(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] < 1:
        raise ValueError(f"a clip is a uint8 array (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")


def even_frame_indices(num_frames: int, wanted: int) -> list[int]:
    """`wanted` frame indices spread evenly from the first frame to the last (all frames of a shorter clip)."""
    if wanted < 1:
        raise ValueError(f"a captioner needs at least 1 frame per clip, got {wanted}")
    if wanted >= num_frames:
        return list(range(num_frames))
    return [int(round(i)) for i in np.linspace(0, num_frames - 1, wanted)]


def sample_frames(frames: np.ndarray, wanted: int) -> list[Image.Image]:
    """(T, H, W, 3) uint8 -> up to `wanted` PIL images, evenly spaced in time."""
    check_clip(frames)
    return [Image.fromarray(frames[i]) for i in even_frame_indices(frames.shape[0], wanted)]


def png_data_url(image: Image.Image) -> str:
    """A `data:image/png;base64,...` URL: lossless, so a model sees the world's exact palette colours."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


__all__ = ["check_clip", "even_frame_indices", "sample_frames", "png_data_url"]
