"""Decode one training clip: frames at a target rate, resized and center-cropped to a bucket size.

Frames are picked by timestamp (the source frame nearest each target time), so a 16 fps source
decoded at 8 fps takes every other frame and a 30000/1001 fps source decoded at 8 fps drifts no
frame over a minute. Decoding seeks to the keyframe before the clip and stops once the clip is
full, so a 10-second clip of an hour-long video reads seconds, not the hour.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from patchflow import media as video_io
from patchflow.data.probe import is_image
from patchflow.media import MediaError

# A container's frame count can be one or two more than the decoder delivers (edit lists, a
# dropped last frame); a clip that ends that close to the end repeats its last frame instead of failing.
TAIL_SLACK_FRAMES = 2


def decode_clip(
    path: str | Path, num_frames: int, fps: float, height: int, width: int, start_s: float = 0.0
) -> torch.Tensor:
    """(C, T, H, W) float32 in [-1, 1]: `num_frames` frames from `start_s` at `fps`; images are T = 1."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if is_image(path):
        if num_frames != 1:
            raise MediaError(f"{path} is an image: it makes a clip of 1 frame, not {num_frames}")
        frames = _read_image(path)[None]  # (1, h, w, 3)
    else:
        frames = read_frames_at(path, num_frames, fps, start_s)  # (T, h, w, 3)
    return resize_center_crop(frames, height, width)


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.array(ImageOps.exif_transpose(im).convert("RGB"))  # (h, w, 3), as displayed
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"cannot read image {path}: {e}") from e


def read_frames_at(path: Path, num_frames: int, fps: float, start_s: float = 0.0) -> np.ndarray:
    """(T, h, w, 3) uint8: for each target time start_s + i / fps, the source frame nearest to it."""
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"need num_frames >= 1 and fps > 0, got {num_frames}, {fps}")
    targets = start_s + np.arange(num_frames) / fps
    picked: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            source_fps = float(stream.average_rate or stream.guessed_rate or fps)
            # Times count from the stream's first frame (some containers start at a non-zero pts).
            origin_s = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
            if start_s > 0:
                # Seek lands on the keyframe at or before start_s; the frames up to the clip only pass by.
                container.seek(int((origin_s + start_s) / stream.time_base), stream=stream, backward=True)
            previous: _Frame | None = None
            for index, frame in enumerate(container.decode(stream)):
                time = float(frame.time) - origin_s if frame.time is not None else index / source_fps
                current = _Frame(frame, time)
                # Every target time up to this frame is now settled: it is nearest this frame or the one before.
                while len(picked) < num_frames and current.time >= targets[len(picked)]:
                    target = targets[len(picked)]
                    # A tie goes to the earlier frame: the one a player shows at that moment.
                    nearer_previous = previous is not None and target - previous.time <= current.time - target
                    picked.append((previous if nearer_previous else current).array())
                if len(picked) == num_frames:
                    break
                previous = current
            # Past the last frame: it still serves target times within half a source frame of it.
            while previous is not None and len(picked) < num_frames and targets[len(picked)] - previous.time <= 0.5 / source_fps:
                picked.append(previous.array())
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode {path}: {e}") from e
    if not picked:
        raise MediaError(f"{path} has no frame at {start_s:.3f}s or later")
    missing = num_frames - len(picked)
    if missing > TAIL_SLACK_FRAMES:
        raise MediaError(f"{path} ends after {len(picked)} of {num_frames} frames at {fps} fps from {start_s:.3f}s")
    picked += [picked[-1]] * missing
    return np.stack(picked)


class _Frame:
    """A decoded frame and its time; converted to pixels only if a target picks it (most are skipped)."""

    def __init__(self, frame: av.VideoFrame, time: float):
        self.frame, self.time, self._array = frame, time, None

    def array(self) -> np.ndarray:
        """(h, w, 3) uint8 as a player shows it: rotation metadata applied (counter-clockwise degrees)."""
        if self._array is None:
            self._array = video_io.displayed_array(self.frame)
        return self._array


def resize_center_crop(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(T, h, w, 3) uint8 -> (3, T, height, width) float in [-1, 1].

    Scaled (antialiased) by the smallest factor that covers the target, then the overflow is cut
    evenly from both ends of one side: the least cropping that keeps the aspect ratio.
    """
    _, h, w, _ = frames.shape
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T, 3, h, w)
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    x = x[:, :, top: top + height, left: left + width]  # (T, 3, height, width)
    return x.clamp(0, 255).div(127.5).sub(1.0).permute(1, 0, 2, 3).contiguous()  # (3, T, height, width)
