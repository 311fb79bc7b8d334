"""Reading and writing real media with PyAV (FFmpeg) and Pillow.

Frames are uint8 numpy arrays (T, H, W, 3) on this side of the boundary; the
model side uses float tensors in [-1, 1] (see `to_tensor` / `to_frames`).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".gif"}


class MediaError(ValueError):
    """A media file that is missing, unreadable or of an unknown kind."""


@contextmanager
def written_in_place(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside `path` for a writer; rename it onto `path` when the writer is done, delete
    it when it fails. A crash or a full disk never leaves a half-written file under the asked-for name. The
    temporary name keeps the suffix, which PyAV and Pillow read the format from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_video(
    path: str | Path, frames: np.ndarray, fps: float, codec: str = "libx264", crf: int = 12, pix_fmt: str = "yuv444p",
    rotation: int = 0,
) -> Path:
    """Write (T, H, W, 3) uint8 frames as a video.

    yuv444p (default) keeps every pixel's colour, which the world's oracle and training data want;
    yuv420p plays in every browser but halves chroma resolution and needs even sizes, so odd sizes
    are then padded by edge copy. `rotation` (degrees counter-clockwise) goes into the display matrix, as
    phones write it: players turn the stored frames by it to show them.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_video wants uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t, h, w, _ = frames.shape
    subsampled = pix_fmt.startswith("yuv420") or codec != "libx264"
    pad_h, pad_w = (h % 2, w % 2) if subsampled else (0, 0)
    if pad_h or pad_w:
        # (T, H, W, 3) -> (T, H + pad_h, W + pad_w, 3)
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    rate = _fps_fraction(fps)
    with written_in_place(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt if codec == "libx264" else "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "medium"}
        # One encoder thread, so the same frames always give the same bytes. x264's default ("auto", 1.5 x the
        # CPUs this process may use) makes the file depend on the machine, and with many frame threads on small
        # frames it is not even repeatable run to run (8+ threads on 80x48: about 1 file in 3 differed, more
        # with more cores; 1 thread: 0 in 100). These videos are small: one thread encodes them in milliseconds.
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _fps_fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode every frame of a video (or one image as T = 1): (T, H, W, 3) uint8 and its fps."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if path.suffix.lower() in IMAGE_EXTS:
        return read_image(path)[None], 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path} has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            frames = [displayed_array(f) for f in container.decode(stream)]
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise MediaError(f"cannot decode {path}: {e}; is it a real video file?") from e
    if not frames:
        raise MediaError(f"{path} holds no decodable frames")
    return np.stack(frames), fps


def displayed_array(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 as a player shows it: the display matrix's rotation (counter-clockwise) applied."""
    array = frame.to_ndarray(format="rgb24")
    quarter_turns = int(round((frame.rotation or 0) / 90)) % 4
    return np.ascontiguousarray(np.rot90(array, k=quarter_turns)) if quarter_turns else array


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))  # as viewers show it
    except OSError as e:
        raise MediaError(f"cannot read image {path}: {e}") from e


def write_image(path: str | Path, frame: np.ndarray) -> Path:
    path = Path(path)
    with written_in_place(path) as tmp:
        Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(tmp)
    return path


def write_gif(path: str | Path, frames: np.ndarray, fps: float, max_side: int = 256) -> Path:
    """A looping GIF beside the mp4, upscaled (nearest) so tiny videos are visible."""
    path = Path(path)
    images = [_upscale(Image.fromarray(f), max_side) for f in frames]
    duration_ms = int(round(1000 / max(fps, 1e-3)))
    with written_in_place(path) as tmp:
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


def _upscale(image: Image.Image, max_side: int) -> Image.Image:
    scale = max(1, max_side // max(image.size))
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def contact_sheet(frames: np.ndarray, max_frames: int = 16, cols: int = 8, gap: int = 2, max_side: int = 128) -> np.ndarray:
    """Evenly spaced frames in a grid, as one (H, W, 3) uint8 picture."""
    t = len(frames)
    idx = np.linspace(0, t - 1, min(t, max_frames)).round().astype(int)
    tiles = [np.asarray(_upscale(Image.fromarray(frames[i]), max_side)) for i in idx]
    th, tw = tiles[0].shape[:2]
    cols = min(cols, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.full((rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * (th + gap): r * (th + gap) + th, c * (tw + gap): c * (tw + gap) + tw] = tile
    return sheet


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float()  # (T, H, W, C)
    return x.permute(3, 0, 1, 2).div(127.5).sub(1.0)  # (C, T, H, W)


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) float in [-1, 1] -> (T, H, W, 3) uint8."""
    x = video.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()  # (T, H, W, C)
