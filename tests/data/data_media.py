"""Helpers shared by the data tests: frames that say their own index, and what the media fixture holds.

Imported as `data_media` (a name no other test folder uses): `from conftest import ...` picked up
whichever conftest.py came first on sys.path when several test folders ran together.
"""

from __future__ import annotations

import numpy as np

LEVEL_STEP = 12


def index_level(i: int) -> int:
    return 10 + LEVEL_STEP * i


def frame_index(frame_hw3: np.ndarray) -> int:
    """Which source frame a decoded (H, W, 3) uint8 frame shows (its median gray level)."""
    return int(round((float(np.median(frame_hw3[..., 1])) - 10) / LEVEL_STEP))


def indexed_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8: gray level per frame, red marker in the top-left quarter."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        frames[i] = index_level(i)
        frames[i, : height // 4, : width // 4] = (230, 40, 40)
    return frames


# name -> (width, height, num_frames, fps, codec, rotation)
EXPECTED_GOOD = {
    "land_64x32.mp4": (64, 32, 17, 16.0, "h264", 0),
    "tall_32x64.mp4": (32, 64, 17, 16.0, "h264", 0),
    "square_48x48.mp4": (48, 48, 9, 8.0, "h264", 0),
    "land_vp9.webm": (64, 32, 17, 16.0, "vp9", 0),
    "land_mpeg4.mkv": (64, 32, 17, 16.0, "mpeg4", 0),
    "rotated.mp4": (32, 64, 17, 16.0, "h264", 90),
    "sq_40.png": (40, 40, 1, 0.0, "png", 0),
    "wide_64x36.jpg": (64, 36, 1, 0.0, "jpeg", 0),
    "tall_36x64.webp": (36, 64, 1, 0.0, "webp", 0),
}
EXPECTED_BAD = {"empty.mp4": "empty", "truncated.mp4": "cannot decode", "text.mp4": "cannot decode"}
